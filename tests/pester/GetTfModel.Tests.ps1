BeforeDiscovery {
    $root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
    $corpus = if ($env:MODELOPS_CORPUS) { $env:MODELOPS_CORPUS } else { Join-Path $root '../shared/corpus' }
    $hasCorpus = Test-Path (Join-Path $corpus 'tf')
}

BeforeAll {
    $root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
    Import-Module (Join-Path $root 'ModelOps.psd1') -Force
    $script:corpus = if ($env:MODELOPS_CORPUS) { $env:MODELOPS_CORPUS } else { Join-Path $root '../shared/corpus' }
    $script:work = Join-Path $TestDrive 'models'
    New-Item -ItemType Directory -Path $work | Out-Null
    $script:pb = [ModelOps.Core.Samples.SampleModels]::WriteFrozenCnn((Join-Path $work 'cnn.pb'), $false)
    $script:pbtxt = [ModelOps.Core.Samples.SampleModels]::WriteFrozenCnn((Join-Path $work 'cnn.pbtxt'), $false)
}

Describe 'Get-TfModel' {
    It 'describes a binary frozen graph' {
        $m = Get-TfModel -Path $pb
        $m | Should -BeOfType ([ModelOps.Core.Inspection.ModelInfo])
        $m.Format | Should -Be 'GraphDef'
        $m.Encoding | Should -Be 'Binary'
        $m.NodeCount | Should -Be 14
        $m.OpHistogram['Const'] | Should -Be 5
        $m.Inputs.Count | Should -Be 1
        "$($m.Inputs[0])" | Should -Be 'input float32[?,8,8,3]'
        $m.Outputs.Name | Should -Be 'probabilities'
        $m.ParameterCount | Should -Be (108 + 4 + 320 + 5)   # float constants only
        $m.FileSize | Should -Be (Get-Item $pb).Length
    }

    It 'reads the text form alike, sniffed by content' {
        $copy = Join-Path $work 'text-named.pb'
        Copy-Item $pbtxt $copy
        $m = Get-TfModel $copy
        $m.Encoding | Should -Be 'Text'
        $m.NodeCount | Should -Be 14
    }

    It 'takes files from Get-ChildItem through the pipeline' {
        $all = Get-ChildItem $work -Filter 'cnn.*' | Get-TfModel
        $all.Count | Should -Be 2
        ($all.Path | Sort-Object) | Should -Be (@($pb, $pbtxt) | Sort-Object)
    }

    It 'resolves relative paths against the current location' {
        Push-Location $work
        try { (Get-TfModel -Path ./cnn.pb).Path | Should -Be $pb }
        finally { Pop-Location }
    }

    It 'has a default table view' {
        $text = Get-TfModel $pb | Out-String
        $text | Should -Match 'Format'
        $text | Should -Match 'cnn.pb'
    }

    It 'fails on a missing file with a stable error id' {
        { Get-TfModel -Path (Join-Path $work 'missing.pb') } | Should -Throw -ErrorId 'FileNotFound*'
    }

    It 'fails on random bytes with a clear error' {
        $bad = Join-Path $work 'random.pb'
        [IO.File]::WriteAllBytes($bad, [byte[]](1..200 | ForEach-Object { 255 - ($_ % 7) }))
        { Get-TfModel $bad -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidProtobuf*'
    }

    It 'reports a text syntax error with line and column' {
        $bad = Join-Path $work 'bad.pbtxt'
        Set-Content $bad "node {`n  name: `"x`"`n  op: `"Placeholder`"`n  oops`n}`n"
        $err = { Get-TfModel $bad } | Should -Throw -ErrorId 'TextFormatSyntax*' -PassThru
        $err.Exception.Message | Should -Match 'line 4'
    }

    It 'says a folder without saved_model.pb is not a SavedModel' {
        $dir = Join-Path $work 'not-a-savedmodel'
        New-Item -ItemType Directory $dir | Out-Null
        { Get-TfModel $dir } | Should -Throw -ErrorId 'SavedModelProtoMissing*'
    }

    It 'keeps going past a bad file in a pipeline, reporting it as a non-terminating error' {
        $bad = Join-Path $work 'empty.pb'
        New-Item -ItemType File $bad -Force | Out-Null
        $out = @($pb, $bad, $pbtxt) | Get-TfModel -ErrorVariable errs -ErrorAction SilentlyContinue
        $out.Count | Should -Be 2
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -Match '^InvalidProtobuf'
    }

    Context 'on the shared corpus' -Skip:(-not $hasCorpus) {
        It 'reads a SavedModel folder with tags and signatures' {
            $m = Get-TfModel (Join-Path $corpus 'tf/savedmodel--tfserving-half_plus_two-family/saved_model_half_plus_two_cpu/00000123')
            $m.Format | Should -Be 'SavedModel'
            $m.Tags | Should -Contain 'serve'
            $m.Signatures.Name | Should -Contain 'serving_default'
        }
    }
}
