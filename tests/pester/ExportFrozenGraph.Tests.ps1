BeforeDiscovery {
    $corpusRoot = if ($env:MODELOPS_CORPUS) { $env:MODELOPS_CORPUS } else { Join-Path $PSScriptRoot '../../../shared/corpus' }
    $hasCorpus = Test-Path (Join-Path $corpusRoot 'tf')
}

BeforeAll {
    $repo = Resolve-Path (Join-Path $PSScriptRoot '../..')
    Import-Module (Join-Path $repo 'ModelOps.psd1') -Force
    $script:work = Join-Path ([IO.Path]::GetTempPath()) ("modelops-freeze-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Path $work | Out-Null
    # An unfrozen TF1 model made by the project's own writers: VariableV2 + Saver graph, V2 checkpoint, state file.
    $script:graph = [ModelOps.Core.Samples.SampleModels]::WriteDense((Join-Path $work 'dense'), 3, 2, 7, $false)
    $script:ckptDir = Split-Path $graph
    $script:corpus = if ($env:MODELOPS_CORPUS) { $env:MODELOPS_CORPUS } else { Join-Path $repo '../shared/corpus' }
}

AfterAll {
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'Export-FrozenGraph' {
    It 'freezes a graph with a checkpoint folder and reports what it did' {
        $out = Join-Path $work 'dense.frozen.pb'
        $r = Export-FrozenGraph -Graph $graph -Checkpoint $ckptDir -OutputNode 'y' -OutputPath $out
        $r.Path | Should -Be $out
        $r.VariablesFrozen | Should -Be 2
        $r.ParameterCount | Should -Be 8
        $r.Bytes | Should -Be (Get-Item $out).Length
        $r.Outputs.Name | Should -Be 'y'
        $r.Inputs.Name | Should -Be 'x'
        $info = Get-TfModel $out
        $info.VariableCount | Should -Be 0
        $info.OpHistogram.Keys | Should -Not -Contain 'VariableV2'
        $info.OpHistogram.Keys | Should -Not -Contain 'SaveV2'
        $info.OpHistogram.Keys | Should -Not -Contain 'Assign'
    }

    It 'writes beside the input by default and accepts tensor names' {
        $r = Export-FrozenGraph $graph (Join-Path $ckptDir 'model.ckpt') -OutputNode 'y:0'
        $r.Path | Should -Be (Join-Path $ckptDir 'model.frozen.pb')
        Test-Path $r.Path | Should -BeTrue
    }

    It 'frozen constants hold the checkpoint values byte for byte' {
        $out = Join-Path $work 'values.pb'
        Export-FrozenGraph -Graph $graph -Checkpoint $ckptDir -OutputNode y -OutputPath $out | Out-Null
        $g = [ModelOps.Core.Formats.ModelReader]::ReadGraphDef($out)
        $k = $g.Node | Where-Object Name -eq 'dense/kernel'
        $k.Op | Should -Be 'Const'
        $reader = [ModelOps.Core.Formats.Checkpoint.CheckpointReader]::Open($ckptDir)
        try {
            $expected = $reader.ReadRaw('dense/kernel')
            [Convert]::ToBase64String($k.Attr['value'].Tensor.TensorContent.ToByteArray()) | Should -Be ([Convert]::ToBase64String($expected))
        }
        finally { $reader.Dispose() }
    }

    It '-WhatIf writes nothing' {
        $out = Join-Path $work 'whatif.pb'
        Export-FrozenGraph -Graph $graph -Checkpoint $ckptDir -OutputNode y -OutputPath $out -WhatIf
        Test-Path $out | Should -BeFalse
    }

    It 'does not overwrite without -Force' {
        $out = Join-Path $work 'exists.pb'
        Set-Content -Path $out -Value 'keep me'
        { Export-FrozenGraph -Graph $graph -Checkpoint $ckptDir -OutputNode y -OutputPath $out -ErrorAction Stop } |
            Should -Throw -ErrorId 'OutputExists,ModelOps.PowerShell.Commands.ExportFrozenGraphCommand'
        Get-Content $out | Should -Be 'keep me'
        Export-FrozenGraph -Graph $graph -Checkpoint $ckptDir -OutputNode y -OutputPath $out -Force | Out-Null
        (Get-Item $out).Length | Should -BeGreaterThan 20
    }

    It 'writes text format with -AsText' {
        $out = Join-Path $work 'dense.frozen.pbtxt'
        Export-FrozenGraph -Graph $graph -Checkpoint $ckptDir -OutputNode y -OutputPath $out -AsText | Out-Null
        (Get-Content -Raw $out) | Should -Match 'op: "Const"'
        (Get-TfModel $out).Encoding | Should -Be 'Text'
    }

    It 'suggests near names for a wrong output node and writes nothing' {
        $out = Join-Path $work 'wrong.pb'
        $err = $null
        try { Export-FrozenGraph -Graph $graph -Checkpoint $ckptDir -OutputNode 'dense/BiasAd' -OutputPath $out -ErrorAction Stop } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'NodeNotFound*'
        $err.Exception.Message | Should -Match 'dense/BiasAdd'
        Test-Path $out | Should -BeFalse
    }

    It 'lists candidate outputs when none is given and the graph has no signature' {
        { Export-FrozenGraph -Graph $graph -Checkpoint $ckptDir -OutputPath (Join-Path $work 'none.pb') -ErrorAction Stop } |
            Should -Throw -ErrorId 'OutputNodeRequired,ModelOps.PowerShell.Commands.ExportFrozenGraphCommand'
    }

    It 'reports a variable missing from the checkpoint' {
        $prefix = Join-Path $work 'partial.ckpt'
        $w = [ModelOps.Core.Formats.Checkpoint.CheckpointWriter]::new($prefix, $false, $false)
        $w.Add('dense/kernel', [ModelOps.Core.Tensors.Tensor]::Zeros([ModelOps.Core.Protos.DataType]::DtFloat, [int[]](3, 2)))
        $w.Finish(); $w.Dispose()
        { Export-FrozenGraph -Graph $graph -Checkpoint $prefix -OutputNode y -OutputPath (Join-Path $work 'missing.pb') -ErrorAction Stop } |
            Should -Throw -ErrorId 'VariableMissing,ModelOps.PowerShell.Commands.ExportFrozenGraphCommand'
        Test-Path (Join-Path $work 'missing.pb') | Should -BeFalse
    }

    It 'reports a shape mismatch between graph and checkpoint' {
        $prefix = Join-Path $work 'wrongshape.ckpt'
        $w = [ModelOps.Core.Formats.Checkpoint.CheckpointWriter]::new($prefix, $false, $false)
        $w.Add('dense/kernel', [ModelOps.Core.Tensors.Tensor]::Zeros([ModelOps.Core.Protos.DataType]::DtFloat, [int[]](2, 3)))
        $w.Add('dense/bias', [ModelOps.Core.Tensors.Tensor]::Zeros([ModelOps.Core.Protos.DataType]::DtFloat, [int[]](2)))
        $w.Finish(); $w.Dispose()
        { Export-FrozenGraph -Graph $graph -Checkpoint $prefix -OutputNode y -OutputPath (Join-Path $work 'shape.pb') -ErrorAction Stop } |
            Should -Throw -ErrorId 'VariableMismatch,ModelOps.PowerShell.Commands.ExportFrozenGraphCommand'
    }

    It 'leaves excluded variables as variables' {
        $r = Export-FrozenGraph -Graph $graph -Checkpoint $ckptDir -OutputNode y -OutputPath (Join-Path $work 'excl.pb') -ExcludeVariable 'dense/b*'
        $r.VariablesFrozen | Should -Be 1
        (Get-TfModel (Join-Path $work 'excl.pb')).OpHistogram.Keys | Should -Contain 'VariableV2'
    }

    It 'Get-TfModel lists checkpoint variables like tf.train.list_variables' {
        $info = Get-TfModel $ckptDir
        $info.Format | Should -Be 'Checkpoint'
        $info.Variables.Name | Should -Be @('dense/bias', 'dense/kernel', 'global_step')
        ($info.Variables | Where-Object Name -eq 'dense/kernel').ShapeText | Should -Be '[3,2]'
    }

    It 'freezes a TF2 SavedModel from the corpus with signature names' -Skip:(-not $hasCorpus) {
        $sm = Join-Path $corpus 'tf/savedmodel--tfserving-half_plus_two-family/saved_model_half_plus_two_tf2_cpu/00000123'
        $out = Join-Path $work 'hpt2.pb'
        $r = Export-FrozenGraph -SavedModel $sm -OutputPath $out
        $r.SourceFormat | Should -Be 'SavedModel (TF2)'
        $r.Inputs.Name | Should -Be 'x'
        $r.Outputs.Name | Should -Be 'y'
        $r.VariablesFrozen | Should -Be 2
        { Export-FrozenGraph -SavedModel $sm -Tag 'gpu' -OutputPath (Join-Path $work 'x.pb') -ErrorAction Stop } |
            Should -Throw -ErrorId 'TagNotFound,ModelOps.PowerShell.Commands.ExportFrozenGraphCommand'
        { Export-FrozenGraph -SavedModel $sm -Signature 'nope' -OutputPath (Join-Path $work 'y.pb') -ErrorAction Stop } |
            Should -Throw -ErrorId 'SignatureNotFound,ModelOps.PowerShell.Commands.ExportFrozenGraphCommand'
    }
}
