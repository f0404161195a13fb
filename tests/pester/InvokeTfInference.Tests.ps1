BeforeAll {
    $repo = Resolve-Path (Join-Path $PSScriptRoot '../..')
    Import-Module (Join-Path $repo 'ModelOps.psd1') -Force
    . (Join-Path $PSScriptRoot 'TestModels.ps1')
    $script:dir = Join-Path ([System.IO.Path]::GetTempPath()) ("tfinf-" + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $script:dir | Out-Null
    $script:reverse = New-ReverseModel (Join-Path $script:dir 'reverse.pb')
    $script:two = New-TwoInputModel (Join-Path $script:dir 'two.pb')
    $script:unsupported = New-UnsupportedModel (Join-Path $script:dir 'unsupported.pb')
}

AfterAll {
    Remove-Item -Recurse -Force $script:dir -ErrorAction SilentlyContinue
}

Describe 'Invoke-TfInference' {
    It 'runs a nested-array input and emits one object per output' {
        $out = Invoke-TfInference -Model $script:reverse -Input @{ x = @(, @(1, -2, 3)) }
        $out.Count | Should -Be 2
        $rev = $out | Where-Object Name -EQ 'reversed'
        $rev.DType | Should -Be 'float32'
        $rev.Shape | Should -Be @(1, 3)
        $rev.Data | Should -Be @(3, -2, 1)
        $rev.Data.GetType() | Should -Be ([float[]])
        ($out | Where-Object Name -EQ 'positive').Data | Should -Be @($true, $false, $true)
    }

    It 'takes a typed array with -Shape and picks outputs with -Output' {
        $out = Invoke-TfInference -Model $script:reverse -Input @{ 'x:0' = [float[]](1, 2, 3, 4, 5, 6) } -Shape 2, 3 -Output 'reversed:0'
        $out.Name | Should -Be 'reversed:0'
        $out.Shape | Should -Be @(2, 3)
        $out.Data | Should -Be @(3, 2, 1, 6, 5, 4)
    }

    It 'converts numbers to the input dtype and joins two inputs' {
        $out = Invoke-TfInference $script:two -Input @{ a = 7; b = @(8, 9) }
        $out.Name | Should -Be 'joined'
        $out.DType | Should -Be 'int64'
        $out.Data | Should -Be @(7, 8, 9)
    }

    It 'binds pipeline objects to inputs by property name and batches them' {
        $rows = 1..3 | ForEach-Object { [pscustomobject]@{ x = @($_, 0, - $_) } }
        $out = $rows | Invoke-TfInference -Model $script:reverse -Output reversed
        $out.Shape | Should -Be @(3, 3)
        $out.Data | Should -Be @(-1, 0, 1, -2, 0, 2, -3, 0, 3)
    }

    It 'binds CSV rows (strings) and plans the model once per pipeline' {
        $csv = Join-Path $script:dir 'rows.csv'
        @([pscustomobject]@{ a = '4' }, [pscustomobject]@{ a = '5' }) | Export-Csv -Path $csv -NoTypeInformation
        $summary = Import-Csv $csv | Invoke-TfInference -Model $script:two -Input @{ b = @(1, 2) } -Measure -BatchSize 1
        $summary.Runs | Should -Be 2
        $summary.Samples | Should -Be 2
        $summary.PlanTime | Should -BeOfType [timespan]
        $summary.TotalTime | Should -BeGreaterThan ([timespan]::Zero)
    }

    It '-Measure -Repeat times each run after one warm-up and gives the kernel time per op type' {
        $summary = Invoke-TfInference -Model $script:reverse -Input @{ x = @(, @(1, -2, 3)) } -Measure -Repeat 5
        $summary.Runs | Should -Be 5
        $summary.Samples | Should -Be 1
        $summary.RunTimes.Count | Should -Be 5
        $summary.MinRunTime | Should -BeLessOrEqual $summary.MedianRunTime
        $summary.MedianRunTime | Should -BeLessOrEqual ($summary.RunTimes | Measure-Object -Property Ticks -Maximum).Maximum
        # The warm-up run is not profiled: five timed runs, each running ReverseV2 and Greater once.
        ($summary.OpTimes | Where-Object Op -eq 'ReverseV2').Calls | Should -Be 5
        ($summary.OpTimes | Where-Object Op -eq 'Greater').Calls | Should -Be 5
        ($summary | Out-String) | Should -Match 'Median run'
    }

    It '-Repeat without -Measure emits the outputs of the last run only' {
        $out = Invoke-TfInference -Model $script:reverse -Input @{ x = @(, @(1, -2, 3)) } -Repeat 3 -Output reversed
        @($out).Count | Should -Be 1
        $out.Data | Should -Be @(3, -2, 1)
    }

    It 'binds -Model from Get-ChildItem by FullName' {
        $out = Get-Item $script:reverse | Invoke-TfInference -Input @{ x = [float[]](1, 2, 3) } -Output reversed
        $out.Data | Should -Be @(3, 2, 1)
    }

    It 'reads -InputFile .npz/.npy/.json and writes -OutFile .npz/.npy' {
        $npz = Join-Path $script:dir 'in.npz'
        $x = [ModelOps.Core.Tensors.Tensor]::Create([float[]](1, 2, 3), [int[]](1, 3))
        $d = [System.Collections.Generic.Dictionary[string, ModelOps.Core.Tensors.Tensor]]::new()
        $d['x:0'] = $x
        [ModelOps.Core.Formats.Npy.NpyFile]::WriteNpz($npz, $d, $false, $true)
        $outNpz = Join-Path $script:dir 'out.npz'
        Invoke-TfInference $script:reverse -InputFile $npz -OutFile $outNpz | Out-Null
        $back = [ModelOps.Core.Formats.Npy.NpyFile]::ReadNpz($outNpz)
        $back['reversed'].Data | Should -Be @(3, 2, 1)
        $back['positive'].Data | Should -Be @($true, $true, $true)

        $npy = Join-Path $script:dir 'in.npy'
        [ModelOps.Core.Formats.Npy.NpyFile]::Write($npy, $x, $false)
        $outNpy = Join-Path $script:dir 'out.npy'
        Invoke-TfInference $script:reverse -InputFile $npy -Output reversed -OutFile $outNpy | Out-Null
        [ModelOps.Core.Formats.Npy.NpyFile]::Read($outNpy).Data | Should -Be @(3, 2, 1)
        { Invoke-TfInference $script:reverse -InputFile $npy -Output reversed -OutFile $outNpy } | Should -Throw -ErrorId 'OutputExists*'

        $json = Join-Path $script:dir 'in.json'
        '{ "x": [[-1, 5, 0]] }' | Set-Content $json
        (Invoke-TfInference $script:reverse -InputFile $json -Output positive).Data | Should -Be @($false, $true, $false)
    }

    It 'reports bad input with stable error ids' {
        { Invoke-TfInference $script:reverse -Input @{ nope = 1 } } | Should -Throw -ErrorId 'UnknownInput*'
        { Invoke-TfInference $script:reverse -Input @{ x = @(1, 2) } } | Should -Throw -ErrorId 'InputShapeMismatch*'
        { Invoke-TfInference $script:two -Input @{ a = 1 } } | Should -Throw -ErrorId 'MissingInput*'
        { Invoke-TfInference $script:reverse -Input @{ x = @(, @('a', 2, 3)) } } | Should -Throw -ErrorId 'ValueCannotConvert*'
        { Invoke-TfInference $script:reverse -Input @{ x = @(@(1, 2, 3), @(1, 2)) } } | Should -Throw -ErrorId 'ValueCannotConvert*'
        { Invoke-TfInference (Join-Path $script:dir 'missing.pb') -Input @{ x = 1 } } | Should -Throw -ErrorId 'FileNotFound*'
        { Invoke-TfInference $script:unsupported -Input @{ x = 1 } -Engine OnnxRuntime } | Should -Throw -ErrorId 'UnsupportedOps*'
    }

    It 'lists every unsupported op before running' {
        $err = $null
        try { Invoke-TfInference $script:unsupported -Input @{ x = 1 } } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'UnsupportedOps*'
        $err.Exception.Message | Should -BeLike '*FancyOp (2)*'
    }

    It 'has a compact default view' {
        $text = Invoke-TfInference $script:reverse -Input @{ x = [float[]](1, 2, 3) } -Output reversed | Out-String
        $text | Should -Match 'reversed\s+float32\s+\[1,3\]\s+3, 2, 1'
    }
}
