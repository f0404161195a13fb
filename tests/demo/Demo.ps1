#!/usr/bin/env pwsh
# The ModelOps demo: makes a sample model with ModelOps' own writers, then runs every cmdlet that has
# landed on it, printing the objects each one emits. Run it through `./build.ps1 Demo`.
$ErrorActionPreference = 'Stop'
if ($PSStyle) { $PSStyle.OutputRendering = 'PlainText' }
$root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
Import-Module (Join-Path $root 'ModelOps.psd1') -Force

$work = Join-Path ([IO.Path]::GetTempPath()) "modelops-demo-$PID"
New-Item -ItemType Directory -Path $work -Force | Out-Null
try {
    Write-Host "== 1. A sample model, written by ModelOps itself"
    $pb = [ModelOps.Core.Samples.SampleModels]::WriteFrozenCnn((Join-Path $work 'cnn.pb'), $false)
    $txt = [ModelOps.Core.Samples.SampleModels]::WriteFrozenCnn((Join-Path $work 'cnn.pbtxt'), $false)
    Get-ChildItem $work | Format-Table Name, Length -AutoSize | Out-String | Write-Host

    Write-Host "== 2. Get-TfModel: inspect it (binary and text, piped from Get-ChildItem)"
    Get-ChildItem $work -Filter 'cnn.*' | Get-TfModel | Format-Table | Out-String -Width 160 | Write-Host
    Get-TfModel -Path $pb | Format-List | Out-String -Width 160 | Write-Host

    Write-Host "Demo finished."
}
finally {
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
