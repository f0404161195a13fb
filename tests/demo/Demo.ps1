#!/usr/bin/env pwsh
# The ModelOps demo: makes an unfrozen sample model (TF1 graph with variables + V2 checkpoint) with
# ModelOps' own writers, then takes it through every cmdlet that has landed, printing the objects each
# one emits. Run it through `./build.ps1 Demo`.
$ErrorActionPreference = 'Stop'
if ($PSStyle) { $PSStyle.OutputRendering = 'PlainText' }
$root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
Import-Module (Join-Path $root 'ModelOps.psd1') -Force

function Show([string] $Title, [object] $Value, [switch] $List) {
    Write-Host "`n== $Title"
    $text = if ($List) { $Value | Format-List | Out-String -Width 160 } else { $Value | Format-Table -AutoSize | Out-String -Width 160 }
    Write-Host $text.TrimEnd()
}

$work = Join-Path ([IO.Path]::GetTempPath()) "modelops-demo-$PID"
New-Item -ItemType Directory -Path $work -Force | Out-Null
try {
    $graph = [ModelOps.Core.Samples.SampleModels]::WriteCnn((Join-Path $work 'cnn'), 3, $false)
    Show 'The sample: a TF1 training export (graph + checkpoint), written by ModelOps itself' (Get-ChildItem (Join-Path $work 'cnn') | Select-Object Name, Length)

    Show 'Get-TfModel on the graph' (Get-TfModel $graph) -List
    Show 'Get-TfModel on the checkpoint (like tf.train.list_variables)' ((Get-TfModel (Join-Path $work 'cnn')).Variables)

    $frozen = Export-FrozenGraph -Graph $graph -Checkpoint (Join-Path $work 'cnn') -OutputNode probabilities
    Show 'Export-FrozenGraph' $frozen

    $x = [ModelOps.Core.Samples.SampleModels]::CnnImage(2, 5)
    $out = $frozen | Invoke-TfInference -Input @{ input = $x }
    Show 'Export-FrozenGraph | Invoke-TfInference (managed engine, batch of 2)' $out
    Show 'Invoke-TfInference -Measure' ($frozen | Invoke-TfInference -Input @{ input = $x } -Measure)

    Write-Host "`nDemo finished."
}
finally {
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
