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
    $text = if ($List) { $Value | Format-List | Out-String -Width 160 } else { $Value | Out-String -Width 160 }
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

    $optimized = $frozen | Optimize-TfGraph
    Show 'Export-FrozenGraph | Optimize-TfGraph (verified against the frozen graph)' $optimized
    Show 'Optimize-TfGraph: what each pass did' $optimized.Passes

    $tflite = $optimized | ConvertTo-TfLite
    Show 'Optimize-TfGraph | ConvertTo-TfLite (float32)' $tflite
    $half = $optimized | ConvertTo-TfLite -Quantization Float16 -OutputPath (Join-Path $work 'cnn.fp16.tflite')
    Show 'ConvertTo-TfLite -Quantization Float16 (with its accuracy report)' $half
    Show 'Float16 accuracy against the float graph' $half.Accuracy
    $onnx = $optimized | ConvertTo-Onnx
    Show 'Optimize-TfGraph | ConvertTo-Onnx' $onnx

    $x = [ModelOps.Core.Samples.SampleModels]::CnnImage(2, 5)
    Show 'Invoke-TfInference on the frozen graph (managed engine, batch of 2)' ($frozen | Invoke-TfInference -Input @{ input = $x })
    Show 'Invoke-TfInference on the optimized graph' ($optimized | Invoke-TfInference -Input @{ input = $x })
    Show 'Invoke-TfInference on the .tflite (managed TFLite interpreter)' ($tflite | Invoke-TfInference -Input @{ input = $x })
    Show 'Invoke-TfInference on the .onnx (ONNX Runtime)' ($onnx | Invoke-TfInference -Input @{ input = $x } -Engine OnnxRuntime)
    Show 'Invoke-TfInference -Measure -Repeat 20 (managed vs ONNX Runtime, optimized graph; one warm-up run each)' @(
        $optimized | Invoke-TfInference -Input @{ input = $x } -Measure -Repeat 20
        $optimized | Invoke-TfInference -Input @{ input = $x } -Measure -Repeat 20 -Engine OnnxRuntime)

    Write-Host "`nDemo finished."
}
finally {
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
