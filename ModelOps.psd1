@{
    RootModule           = 'module/bin/ModelOps.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5c0f7d2e-7a0e-4f6b-9a53-2d8e3f1c9b41'
    Author               = 'ModelOps'
    CompanyName          = 'ModelOps'
    Copyright            = '(c) ModelOps. All rights reserved.'
    Description          = 'Takes trained TensorFlow models to deployment: inspect, freeze, optimize, convert to TFLite/ONNX and run them, from PowerShell.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    RequiredAssemblies   = @('module/bin/ModelOps.Core.dll')
    FormatsToProcess     = @('module/ModelOps.Format.ps1xml')
    CmdletsToExport      = @('Get-TfModel', 'Export-FrozenGraph', 'Invoke-TfInference', 'Optimize-TfGraph', 'ConvertTo-Onnx', 'ConvertTo-TfLite')
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('TensorFlow', 'TFLite', 'ONNX', 'MachineLearning', 'Deployment')
            ProjectUri = ''
        }
    }
}
