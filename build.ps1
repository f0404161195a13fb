#!/usr/bin/env pwsh
<#
.SYNOPSIS
    The single entry point for building, testing, demonstrating and benchmarking ModelOps.
.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 Demo
.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 Test
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Test', 'Demo', 'Bench', 'Clean')]
    [string] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Passed to `dotnet test --filter` (xunit) and used as Pester's -FullNameFilter when given.
    [string] $Filter,

    # Extra arguments for the benchmark program (Bench task), e.g. -BenchArgs gemm
    [string[]] $BenchArgs = @()
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$env:POWERSHELL_TELEMETRY_OPTOUT = '1'
$env:POWERSHELL_UPDATECHECK = 'Off'
$env:ORT_DISABLE_TELEMETRY = '1'
$env:NO_COLOR = '1'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
$env:DOTNET_SKIP_FIRST_TIME_EXPERIENCE = '1'
if ($PSStyle) { $PSStyle.OutputRendering = 'PlainText' }

$Root = $PSScriptRoot
$ModuleBin = Join-Path $Root 'module/bin'
$Artifacts = Join-Path $Root 'artifacts'

function Invoke-Dotnet([string[]] $Arguments) {
    & dotnet @Arguments
    if ($LASTEXITCODE -ne 0) { throw "dotnet $($Arguments -join ' ') failed with exit code $LASTEXITCODE." }
}

function Invoke-BuildTask {
    Write-Host "== Build ($Configuration)"
    Invoke-Dotnet @('build', (Join-Path $Root 'ModelOps.sln'), '-c', $Configuration, '--nologo', '-v:q', '-clp:NoSummary;ErrorsOnly')
    # Lay the module payload where ModelOps.psd1 expects it.
    $out = Join-Path $Root "src/ModelOps.PowerShell/bin/$Configuration/net8.0"
    if (Test-Path $ModuleBin) { Remove-Item $ModuleBin -Recurse -Force }
    New-Item -ItemType Directory -Path $ModuleBin | Out-Null
    Copy-Item -Path (Join-Path $out '*') -Destination $ModuleBin -Recurse -Force
    # Get-Help text: MAML from the cmdlets and their doc comments, plus the about_ topics, in <module base>/en-US.
    Invoke-ChildPwsh @('-File', (Join-Path $Root 'module/Build-Help.ps1'), '-ManifestPath', (Join-Path $Root 'ModelOps.psd1'),
        '-DocXmlPath', (Join-Path $ModuleBin 'ModelOps.PowerShell.xml'), '-AboutFolder', (Join-Path $Root 'module/en-US'))
    if ($LASTEXITCODE -ne 0) { throw "Writing the module's help failed (exit code $LASTEXITCODE)." }
    Write-Host "Module ready: Import-Module ./ModelOps.psd1"
}

# The command that starts a child pwsh like this one: pwsh itself, or `dotnet <pwsh.dll>` for the local tool.
function Get-PwshCommand {
    $exe = [Environment]::ProcessPath
    if ((Split-Path -Leaf $exe) -like 'dotnet*') { return @($exe, (Join-Path $PSHOME 'pwsh.dll')) }
    return @($exe)
}

function Invoke-ChildPwsh([string[]] $Arguments) {
    $cmd = @(Get-PwshCommand)
    $rest = @($cmd | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive') + $Arguments
    & $cmd[0] @rest
}

function Get-PesterModulePath {
    $proj = Join-Path $Root 'tests/tools/PesterDownload.csproj'
    Invoke-Dotnet @('restore', $proj, '--nologo', '-v:q')
    $packages = (& dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', ''
    $psd1 = Join-Path $packages.Trim() 'pester/5.7.1/tools/Pester.psd1'
    if (-not (Test-Path $psd1)) { throw "Pester was restored but $psd1 is missing." }
    return $psd1
}

function Read-TrxCounters([string] $Path) {
    [xml] $trx = Get-Content -Raw -LiteralPath $Path
    $c = $trx.TestRun.ResultSummary.Counters
    $failed = [int] $c.failed + [int] $c.error + [int] $c.timeout + [int] $c.aborted
    # Skipped tests are neither passed nor failed; the trx "notExecuted" counter is not always set for them.
    [pscustomobject]@{
        Passed  = [int] $c.passed
        Failed  = $failed
        Skipped = [int] $c.total - [int] $c.passed - $failed
    }
}

function Invoke-TestTask {
    Invoke-BuildTask
    $results = Join-Path $Artifacts 'test'
    if (Test-Path $results) { Remove-Item $results -Recurse -Force }
    $passed = 0; $failed = 0; $skipped = 0

    Write-Host "== xunit"
    $testArgs = @('test', (Join-Path $Root 'tests/ModelOps.Core.Tests/ModelOps.Core.Tests.csproj'), '-c', $Configuration,
        '--no-build', '--nologo', '--results-directory', $results, '--logger', 'trx;LogFileName=core.trx',
        '--logger', 'console;verbosity=minimal')
    if ($Filter) { $testArgs += @('--filter', $Filter) }
    & dotnet @testArgs
    $xunitExit = $LASTEXITCODE
    $trx = Join-Path $results 'core.trx'
    if (Test-Path $trx) {
        $x = Read-TrxCounters $trx
        Write-Host "xunit: $($x.Passed) passed, $($x.Failed) failed, $($x.Skipped) skipped"
        $passed += $x.Passed; $failed += $x.Failed; $skipped += $x.Skipped
        if ($xunitExit -ne 0 -and $x.Failed -eq 0) { $failed += 1; Write-Host "xunit exited with $xunitExit" }
    }
    else {
        Write-Host "xunit produced no results (exit code $xunitExit)"
        $failed += 1
    }

    Write-Host "== Pester"
    $pester = Get-PesterModulePath
    # Pester runs in a child pwsh so the module loads fresh, as a user would load it.
    $pesterScript = @'
param($PesterPath, $TestsPath, $Filter, $ResultFile)
$ErrorActionPreference = 'Stop'
if ($PSStyle) { $PSStyle.OutputRendering = 'PlainText' }
Import-Module $PesterPath -Force
$cfg = New-PesterConfiguration
$cfg.Run.Path = $TestsPath
$cfg.Run.PassThru = $true
$cfg.Output.Verbosity = 'Normal'
if ($Filter) { $cfg.Filter.FullName = "*$Filter*" }
$r = Invoke-Pester -Configuration $cfg
@{ Passed = $r.PassedCount; Failed = $r.FailedCount + $r.FailedBlocksCount + $r.FailedContainersCount; Skipped = $r.SkippedCount + $r.NotRunCount } |
    ConvertTo-Json | Set-Content -LiteralPath $ResultFile
'@
    New-Item -ItemType Directory -Force -Path $results | Out-Null
    $scriptFile = Join-Path $results 'run-pester.ps1'
    $resultFile = Join-Path $results 'pester.json'
    Set-Content -LiteralPath $scriptFile -Value $pesterScript
    Invoke-ChildPwsh @('-File', $scriptFile, '-PesterPath', $pester, '-TestsPath', (Join-Path $Root 'tests/pester'), '-Filter', "$Filter", '-ResultFile', $resultFile)
    if (Test-Path $resultFile) {
        $p = Get-Content -Raw $resultFile | ConvertFrom-Json
        Write-Host "Pester: $($p.Passed) passed, $($p.Failed) failed, $($p.Skipped) skipped"
        $passed += $p.Passed; $failed += $p.Failed; $skipped += $p.Skipped
    }
    else {
        Write-Host "Pester produced no results"
        $failed += 1
    }

    Write-Host ""
    Write-Host "$passed passed, $failed failed, $skipped skipped"
    if ($failed -gt 0) { exit 1 }
}

function Invoke-DemoTask {
    Invoke-BuildTask
    Invoke-ChildPwsh @('-File', (Join-Path $Root 'tests/demo/Demo.ps1'))
    if ($LASTEXITCODE -ne 0) { throw "The demo failed (exit code $LASTEXITCODE)." }
}

function Invoke-BenchTask {
    Invoke-BuildTask
    $proj = Join-Path $Root 'tests/ModelOps.Benchmarks/ModelOps.Benchmarks.csproj'
    Invoke-Dotnet (@('run', '--project', $proj, '-c', $Configuration, '--no-build', '--') + $BenchArgs)
}

switch ($Task) {
    'Build' { Invoke-BuildTask }
    'Test' { Invoke-TestTask }
    'Demo' { Invoke-DemoTask }
    'Bench' { Invoke-BenchTask }
    'Clean' {
        foreach ($d in @($ModuleBin, $Artifacts, (Join-Path $Root 'en-US'))) { if (Test-Path $d) { Remove-Item $d -Recurse -Force } }
        Invoke-Dotnet @('clean', (Join-Path $Root 'ModelOps.sln'), '-c', $Configuration, '--nologo', '-v:q')
    }
}
