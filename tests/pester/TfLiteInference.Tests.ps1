# Invoke-TfInference on .tflite files ModelOps writes itself (SampleModels.TfLite: flatbuffer object API).
BeforeAll {
    $repo = Resolve-Path (Join-Path $PSScriptRoot '../..')
    Import-Module (Join-Path $repo 'ModelOps.psd1') -Force
    $script:dir = Join-Path ([System.IO.Path]::GetTempPath()) ("tflinf-" + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $script:dir | Out-Null
    $samples = [ModelOps.Core.Samples.SampleModels]
    $script:float = $samples::WriteTfLite((Join-Path $script:dir 'float.tflite'), $samples::TfLiteFloat(), $false)
    $script:int8 = $samples::WriteTfLite((Join-Path $script:dir 'add_int8.tflite'), $samples::TfLiteInt8Add(), $false)
    # The same model under a name without the extension: the engine is chosen from the TFL3 identifier.
    $script:noExt = Join-Path $script:dir 'add_int8.bin'
    Copy-Item $script:int8 $script:noExt
}

AfterAll {
    Remove-Item -Recurse -Force $script:dir -ErrorAction SilentlyContinue
}

Describe 'Invoke-TfInference on .tflite' {
    It 'runs a float model: outputs by tensor name, dtype and shape' {
        $out = Invoke-TfInference -Model $script:float -Input @{ x = @(, @(1, 1, 1, 1)) }
        $out.Count | Should -Be 2
        $dense = $out | Where-Object Name -EQ 'dense'
        $dense.DType | Should -Be 'float32'
        $dense.Shape | Should -Be @(1, 2)
        $dense.Data | Should -Be @(10.5, 0)   # [1+2+3+4+0.5, relu(-1+1-1)]
        ($out | Where-Object Name -EQ 'doubled').Data | Should -Be @(2, 2, 2, 2)
    }

    It '-Measure -Repeat gives the kernel time per TFLite op' {
        $summary = Invoke-TfInference -Model $script:float -Input @{ x = @(, @(1, 1, 1, 1)) } -Measure -Repeat 3
        $summary.Runs | Should -Be 3
        $summary.OpTimes.Count | Should -BeGreaterThan 0
        foreach ($t in $summary.OpTimes) { $t.Calls % 3 | Should -Be 0 }   # the warm-up run is not counted
        ($summary.OpTimes | Measure-Object -Property Share -Sum).Sum | Should -BeGreaterThan 0.99
    }

    It 'binds inputs by signature name and picks outputs with -Output' {
        $out = Invoke-TfInference $script:float -Input @{ features = [float[]](1, 0, -1, 2) } -Output dense
        $out.Name | Should -Be 'dense'
        $out.Data | Should -Be @(6.5, 0)      # 1-3+8+0.5; -1-1-1 → relu 0
    }

    It 'feeds and returns quantized int8 values as they are' {
        # sum_q = round((0.05(a+3) + 0.1(b-2)) / 0.125) + 1
        $out = Invoke-TfInference $script:int8 -Input @{ a = [sbyte[]](17, -3, 27, 100); b = [sbyte[]](12, 2, -8, 50) } -Shape 1, 4
        $out.Name | Should -Be 'sum'
        $out.DType | Should -Be 'int8'
        $out.Data | Should -Be @(17, 1, 5, 81)
    }

    It 'takes and returns real values with -Dequantize' {
        $out = Invoke-TfInference $script:int8 -Input @{ left = @(, @(1.0, 0, 1.5, 5)); right = @(, @(1.0, 0, -1, 5)) } -Dequantize
        $out.DType | Should -Be 'float32'
        $out.Data | Should -Be @(2.0, 0, 0.5, 10)
    }

    It 'chooses the TFLite engine from the file identifier, not the extension' {
        (Invoke-TfInference $script:noExt -Input @{ a = [sbyte[]](17, -3, 27, 100); b = [sbyte[]](12, 2, -8, 50) } -Shape 1, 4).Data | Should -Be @(17, 1, 5, 81)
    }

    It 'writes -OutFile .npz keyed by output name and .npy for one output' {
        $npz = Join-Path $script:dir 'out.npz'
        Invoke-TfInference $script:float -Input @{ x = [float[]](1, 1, 1, 1) } -Shape 1, 4 -OutFile $npz | Out-Null
        $back = [ModelOps.Core.Formats.Npy.NpyFile]::ReadNpz($npz)
        $back['dense'].Data | Should -Be @(10.5, 0)
        $back['doubled'].Data | Should -Be @(2, 2, 2, 2)
        $npy = Join-Path $script:dir 'sum.npy'
        Invoke-TfInference $script:int8 -Input @{ left = [float[]](1, 0, 1.5, 5); right = [float[]](1, 0, -1, 5) } -Shape 1, 4 -Dequantize -OutFile $npy | Out-Null
        [ModelOps.Core.Formats.Npy.NpyFile]::Read($npy).Data | Should -Be @(2.0, 0, 0.5, 10)
    }

    It 'reports an unknown input or output with the real ones' {
        $err = $null
        try { Invoke-TfInference $script:float -Input @{ nope = [float[]](1, 1, 1, 1) } -Shape 1, 4 } catch { $err = $_ }
        $err.Exception.Message | Should -BeLike "*'nope' is not an input*x float32*"
        $err = $null
        try { Invoke-TfInference $script:float -Input @{ x = [float[]](1, 1, 1, 1) } -Shape 1, 4 -Output nope } catch { $err = $_ }
        $err.Exception.Message | Should -BeLike "*'nope' is not an output*dense, doubled*"
    }

    It 'refuses -Dequantize for a TensorFlow graph' {
        $pb = Join-Path $script:dir 'cnn.pb'
        [ModelOps.Core.Samples.SampleModels]::WriteFrozenCnn($pb, $false) | Out-Null
        $err = $null
        try { Invoke-TfInference $pb -Input @{ input = [float[]]::new(192) } -Shape 1, 8, 8, 3 -Dequantize } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'DequantizeNotApplicable*'
    }
}
