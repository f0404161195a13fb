BeforeDiscovery {
    $root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
    $corpus = if ($env:MODELOPS_CORPUS) { $env:MODELOPS_CORPUS } else { Join-Path $root '../shared/corpus' }
    $hasCorpus = Test-Path (Join-Path $corpus 'tfjs-human')
}

BeforeAll {
    $root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
    Import-Module (Join-Path $root 'ModelOps.psd1') -Force
    $script:corpus = if ($env:MODELOPS_CORPUS) { $env:MODELOPS_CORPUS } else { Join-Path $root '../shared/corpus' }
    $script:work = Join-Path $TestDrive 'opt'
    New-Item -ItemType Directory -Path $work | Out-Null
    $script:pb = [ModelOps.Core.Samples.SampleModels]::WriteFrozenCnn((Join-Path $work 'cnn.pb'), $false)
}

Describe 'Optimize-TfGraph' {
    It 'optimizes, verifies and writes <name>.optimized.pb beside the input' {
        $r = Optimize-TfGraph -Path $pb
        $r | Should -BeOfType ([ModelOps.Core.Optimization.OptimizationReport])
        $out = Join-Path $work 'cnn.optimized.pb'
        $r.Path | Should -Be $out
        $r.SourcePath | Should -Be $pb
        $r.Written | Should -BeTrue
        Test-Path $out | Should -BeTrue
        $r.NodesBefore | Should -Be 14
        $r.NodesAfter | Should -BeLessThan 14
        $r.OpsAfter['_FusedConv2D'] | Should -Be 1
        $r.OpsAfter['_FusedMatMul'] | Should -Be 1
        $r.Verification.Passed | Should -BeTrue
        $r.Verification.MaxAbsDiff | Should -BeLessOrEqual 1e-4
        $r.Passes.Name | Should -Contain 'fuse_contractions'
        (Get-TfModel $out).NodeCount | Should -Be $r.NodesAfter
        $r.SizeAfter | Should -Be (Get-Item $out).Length
    }

    It 'refuses to overwrite without -Force, and overwrites with it' {
        $out = Join-Path $work 'cnn.optimized.pb'
        { Optimize-TfGraph -Path $pb -ErrorAction Stop } | Should -Throw -ErrorId 'OutputExists,ModelOps.PowerShell.Commands.OptimizeTfGraphCommand'
        (Optimize-TfGraph -Path $pb -Force).Written | Should -BeTrue
    }

    It 'writes nothing under -WhatIf' {
        $out = Join-Path $work 'whatif.pb'
        $r = Optimize-TfGraph -Path $pb -OutputPath $out -WhatIf
        Test-Path $out | Should -BeFalse
        $r.Written | Should -BeFalse
    }

    It 'runs the transforms given, with arguments' {
        $out = Join-Path $work 'sorted.pb'
        $r = Optimize-TfGraph $pb -OutputPath $out -Transform 'remove_device', 'fuse_contractions(activations=Relu)', 'sort_by_execution_order'
        $r.Transforms | Should -Be @('remove_device', 'fuse_contractions(activations=Relu)', 'sort_by_execution_order')
        $r.OpsAfter['_FusedConv2D'] | Should -Be 1
    }

    It 'takes verification inputs as numbers and checks the result' {
        $values = [float[]]::new(2 * 8 * 8 * 3); for ($i = 0; $i -lt $values.Length; $i++) { $values[$i] = ($i % 7) / 7 }
        $r = Optimize-TfGraph $pb -OutputPath (Join-Path $work 'given.pb') -VerificationInput @{ input = $values }
        $r.Verification.InputSource | Should -Be 'given'
        $r.Verification.Passed | Should -BeTrue
    }

    It 'binds Path from pipeline objects (Export-FrozenGraph output, Get-ChildItem)' {
        $r = [pscustomobject]@{ Path = $pb } | Optimize-TfGraph -OutputPath (Join-Path $work 'piped.pb')
        $r.Written | Should -BeTrue
        $r2 = Get-Item $pb | Optimize-TfGraph -OutputPath (Join-Path $work 'piped2.pb')
        $r2.Written | Should -BeTrue
    }

    It 'names an unknown transform and lists the valid ones' {
        { Optimize-TfGraph $pb -OutputPath (Join-Path $work 'x.pb') -Transform 'fold_constant' -ErrorAction Stop } |
            Should -Throw -ErrorId 'UnknownTransform,ModelOps.PowerShell.Commands.OptimizeTfGraphCommand' -ExpectedMessage '*fold_constants*'
        { Optimize-TfGraph $pb -OutputPath (Join-Path $work 'x.pb') -Transform 'fold_constants(size=1)' -ErrorAction Stop } |
            Should -Throw -ErrorId 'UnknownTransformArgument,ModelOps.PowerShell.Commands.OptimizeTfGraphCommand' -ExpectedMessage '*max_bytes*'
        Test-Path (Join-Path $work 'x.pb') | Should -BeFalse
    }

    It 'names input and output nodes that are not in the graph' {
        { Optimize-TfGraph $pb -OutputPath (Join-Path $work 'x.pb') -OutputNode 'probabilitys' -ErrorAction Stop } |
            Should -Throw -ErrorId 'OutputNodeNotFound,ModelOps.PowerShell.Commands.OptimizeTfGraphCommand' -ExpectedMessage '*probabilities*'
        { Optimize-TfGraph $pb -OutputPath (Join-Path $work 'x.pb') -InputNode 'imput' -ErrorAction Stop } |
            Should -Throw -ErrorId 'InputNodeNotFound,ModelOps.PowerShell.Commands.OptimizeTfGraphCommand'
    }

    It 'refuses a graph that is not frozen and points to Export-FrozenGraph' {
        $b = [ModelOps.Core.Graph.GraphBuilder]::new()
        $null = $b.Placeholder('x', [ModelOps.Core.Protos.DataType]::DtFloat, [long[]]@(2))
        $v = $b.Add('w', 'VariableV2', $null, $null)
        $v.Attr['dtype'] = [ModelOps.Core.Graph.Attr]::Type([ModelOps.Core.Protos.DataType]::DtFloat)
        $null = $b.Op('y', 'Mul', [ModelOps.Core.Protos.DataType]::DtFloat, [string[]]@('x', 'w'))
        $file = Join-Path $work 'unfrozen.pb'
        [System.IO.File]::WriteAllBytes($file, [Google.Protobuf.MessageExtensions]::ToByteArray($b.Graph))
        { Optimize-TfGraph $file -ErrorAction Stop } |
            Should -Throw -ErrorId 'GraphNotFrozen,ModelOps.PowerShell.Commands.OptimizeTfGraphCommand' -ExpectedMessage '*Export-FrozenGraph*'
        Test-Path (Join-Path $work 'unfrozen.optimized.pb') | Should -BeFalse
    }

    It 'fails verification, writing nothing, when a transform changes the outputs' {
        # A tolerance of 0 with folded batch norms is exact only by chance; a deliberately wrong input type is not:
        # re-typing the float input to uint8 rounds every value, so the outputs differ.
        $out = Join-Path $work 'bad.pb'
        { Optimize-TfGraph $pb -OutputPath $out -Transform 'strip_unused_nodes(type=uint8)' -ErrorAction Stop } |
            Should -Throw -ErrorId 'VerificationFailed,ModelOps.PowerShell.Commands.OptimizeTfGraphCommand' -ExpectedMessage '*max|diff|*'
        Test-Path $out | Should -BeFalse
    }

    It 'optimizes a real corpus graph and keeps it verified' -Skip:(-not $hasCorpus) {
        $src = Join-Path $corpus 'tfjs-human/selfie/model.pb'
        $r = Optimize-TfGraph $src -OutputPath (Join-Path $work 'selfie.pb')
        $r.Verification.Passed | Should -BeTrue
        $r.NodesAfter | Should -BeLessThan $r.NodesBefore
        $r.OpsAfter['_FusedConv2D'] | Should -BeGreaterThan 0
    }
}
