# Get-Help as a user reads it: every exported cmdlet documented, every parameter described, examples present,
# the about_ topic found. The MAML is generated at build time (module/Build-Help.ps1).
BeforeDiscovery {
    $root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
    $manifest = Import-PowerShellDataFile (Join-Path $root 'ModelOps.psd1')
    $cmdlets = $manifest.CmdletsToExport | ForEach-Object { @{ Name = $_ } }
}

BeforeAll {
    $root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
    Import-Module (Join-Path $root 'ModelOps.psd1') -Force
    $script:common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
}

Describe 'Get-Help for <Name>' -ForEach $cmdlets {
    BeforeAll {
        $script:help = Get-Help $Name -Full
        $script:cmd = Get-Command $Name
    }

    It 'has a synopsis and a description from the help file' {
        # Without a help file, Get-Help's synopsis is the syntax line.
        $help.Synopsis | Should -Not -BeLike "$Name *"
        $help.Synopsis.Length | Should -BeGreaterThan 20
        ($help.Description | Out-String).Trim().Length | Should -BeGreaterThan 20
    }

    It 'describes every parameter, with its aliases' {
        foreach ($p in $cmd.Parameters.Values | Where-Object { $_.Name -notin $common }) {
            $ph = $help.parameters.parameter | Where-Object name -eq $p.Name
            $ph | Should -Not -BeNullOrEmpty -Because "-$($p.Name) must be in the help"
            ($ph.description | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "-$($p.Name) needs a description"
            foreach ($a in $p.Aliases) { $ph.aliases | Should -Match ([regex]::Escape($a)) }
        }
    }

    It 'has examples that name the cmdlet' {
        $examples = @($help.examples.example)
        $examples.Count | Should -BeGreaterThan 0
        foreach ($e in $examples) { $e.code | Should -Match ([regex]::Escape($Name)) }
    }
}

Describe 'about_ModelOps' {
    It 'is found by Get-Help and names every cmdlet' {
        $text = Get-Help about_ModelOps | Out-String
        $text | Should -Match 'about_ModelOps'
        foreach ($c in (Get-Command -Module ModelOps -CommandType Cmdlet).Name) { $text | Should -Match ([regex]::Escape($c)) }
    }
}
