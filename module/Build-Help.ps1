#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Writes the module's help: MAML for every cmdlet (from the cmdlets' metadata and the XML documentation comments of
    ModelOps.PowerShell) and the about_ topics, into <module base>/en-US where Get-Help looks for them.
.DESCRIPTION
    Run by build.ps1 after the payload is laid out in module/bin, in a child pwsh (the module is imported here).
    Text comes from the C# doc comments: <para type="synopsis">, <para type="description">, each parameter's
    <summary>, and <example><code>…</code><para>…</para></example>. Syntax, positions, pipeline binding, aliases,
    defaults are read from the loaded cmdlets themselves, so help never disagrees with the code.
#>
param(
    [Parameter(Mandatory)] [string] $ManifestPath,
    [Parameter(Mandatory)] [string] $DocXmlPath,
    [Parameter(Mandatory)] [string] $AboutFolder
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$module = Import-Module $ManifestPath -Force -PassThru
$outDir = Join-Path $module.ModuleBase 'en-US'
New-Item -ItemType Directory -Force -Path $outDir | Out-Null

# Doc comment members by id ("T:Namespace.Type", "P:Namespace.Type.Property").
$docs = @{}
foreach ($m in ([xml](Get-Content -Raw $DocXmlPath)).doc.members.member) { $docs[$m.name] = $m }

# Element text with <see cref="..."/> as the referenced name and whitespace collapsed.
function Get-DocText($node) {
    if ($null -eq $node) { return '' }
    $clone = $node.CloneNode($true)
    foreach ($see in @($clone.SelectNodes('.//see'))) {
        $name = if ($see.HasAttribute('cref')) { ($see.GetAttribute('cref') -split '[.:]')[-1] } else { $see.GetAttribute('langword') }
        $see.ParentNode.ReplaceChild($clone.OwnerDocument.CreateTextNode($name), $see) | Out-Null
    }
    return ($clone.InnerText -replace '\s+', ' ').Trim()
}

function Get-TypeDoc([type] $type, [string] $kind) {
    $m = $docs["T:$($type.FullName)"]
    if ($null -eq $m -or $null -eq $m['summary']) { return '' }
    $para = $m.summary.SelectSingleNode("para[@type='$kind']")
    return Get-DocText $para
}

function Get-ParameterDoc([type] $type, [string] $name) {
    $prop = $type.GetProperty($name)
    if ($null -eq $prop) { return '' }
    $m = $docs["P:$($prop.DeclaringType.FullName).$name"]
    if ($null -eq $m) { return '' }
    return Get-DocText $m['summary']
}

$common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters

$ns = @{
    maml    = 'http://schemas.microsoft.com/maml/2004/10'
    command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    dev     = 'http://schemas.microsoft.com/maml/dev/2004/10'
}
$settings = [System.Xml.XmlWriterSettings]::new()
$settings.Indent = $true
$settings.Encoding = [System.Text.UTF8Encoding]::new($false)
$helpPath = Join-Path $outDir 'ModelOps.PowerShell.dll-Help.xml'
$w = [System.Xml.XmlWriter]::Create($helpPath, $settings)

function Write-Para([string] $text) {
    $w.WriteElementString('para', $ns.maml, $text)
}

function Write-Description([string] $text) {
    $w.WriteStartElement('description', $ns.maml)
    Write-Para $text
    $w.WriteEndElement()
}

function Get-PipelineInput($p) {
    $byValue = $p.ValueFromPipeline; $byName = $p.ValueFromPipelineByPropertyName
    if ($byValue -and $byName) { return 'True (ByValue, ByPropertyName)' }
    if ($byValue) { return 'True (ByValue)' }
    if ($byName) { return 'True (ByPropertyName)' }
    return 'False'
}

function Get-TypeName([type] $t) {
    if ($t -eq [System.Management.Automation.SwitchParameter]) { return 'SwitchParameter' }
    $inner = [Nullable]::GetUnderlyingType($t)
    if ($inner) { return $inner.Name }
    return $t.Name
}

# A parameter's default, read off a fresh instance of the cmdlet: what it is when the parameter is not given.
function Get-DefaultText($instance, [string] $name) {
    $v = $instance.GetType().GetProperty($name).GetValue($instance)
    if ($null -eq $v -or $v -is [System.Management.Automation.SwitchParameter] -or ($v -is [string] -and $v -eq '') -or
        ($v -is [array] -and $v.Count -eq 0) -or ($v -is [System.Collections.IDictionary] -and $v.Count -eq 0)) { return 'None' }
    if ($v -is [array]) { return ($v -join ', ') }
    return [string]$v
}

try {
    $w.WriteStartDocument()
    $w.WriteStartElement('helpItems', 'http://msh')
    $w.WriteAttributeString('schema', 'maml')
    foreach ($cmd in Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name) {
        $type = $cmd.ImplementingType
        $synopsis = Get-TypeDoc $type 'synopsis'
        $description = Get-TypeDoc $type 'description'
        if (-not $synopsis) { throw "$($cmd.Name) ($($type.FullName)) has no <para type=`"synopsis`"> doc comment." }
        $params = $cmd.Parameters.Values | Where-Object { $_.Name -notin $common }
        $instance = [Activator]::CreateInstance($type)

        $w.WriteStartElement('command', 'command', $ns.command)
        $w.WriteAttributeString('xmlns', 'maml', $null, $ns.maml)
        $w.WriteAttributeString('xmlns', 'dev', $null, $ns.dev)

        $w.WriteStartElement('details', $ns.command)
        $w.WriteElementString('name', $ns.command, $cmd.Name)
        $w.WriteElementString('verb', $ns.command, $cmd.Verb)
        $w.WriteElementString('noun', $ns.command, $cmd.Noun)
        Write-Description $synopsis
        $w.WriteEndElement()

        Write-Description $(if ($description) { $description } else { $synopsis })

        $w.WriteStartElement('syntax', $ns.command)
        foreach ($set in $cmd.ParameterSets) {
            $w.WriteStartElement('syntaxItem', $ns.command)
            $w.WriteElementString('name', $ns.maml, $cmd.Name)
            foreach ($sp in $set.Parameters | Where-Object { $_.Name -notin $common } | Sort-Object { if ($_.Position -ge 0) { $_.Position } else { 1000 } }, { -not $_.IsMandatory }) {
                $w.WriteStartElement('parameter', $ns.command)
                $w.WriteAttributeString('required', "$($sp.IsMandatory)".ToLowerInvariant())
                $w.WriteAttributeString('position', $(if ($sp.Position -ge 0) { "$($sp.Position)" } else { 'named' }))
                $w.WriteAttributeString('pipelineInput', (Get-PipelineInput $sp))
                $w.WriteElementString('name', $ns.maml, $sp.Name)
                if ($sp.ParameterType -ne [System.Management.Automation.SwitchParameter]) {
                    $w.WriteStartElement('parameterValue', $ns.command)
                    $w.WriteAttributeString('required', 'true')
                    $w.WriteString((Get-TypeName $sp.ParameterType))
                    $w.WriteEndElement()
                }
                $w.WriteEndElement()
            }
            $w.WriteEndElement()
        }
        $w.WriteEndElement()

        $w.WriteStartElement('parameters', $ns.command)
        foreach ($p in $params | Sort-Object Name) {
            $text = Get-ParameterDoc $type $p.Name
            if (-not $text) { throw "$($cmd.Name) -$($p.Name) has no <summary> doc comment." }
            $attrs = @($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] })
            $mandatory = @($attrs | Where-Object { $_.Mandatory }).Count -gt 0
            $positions = @($attrs | Where-Object { $_.Position -ge 0 } | ForEach-Object Position | Sort-Object -Unique)
            $first = $attrs | Select-Object -First 1
            $w.WriteStartElement('parameter', $ns.command)
            $w.WriteAttributeString('required', "$mandatory".ToLowerInvariant())
            $w.WriteAttributeString('position', $(if ($positions.Count) { "$($positions[0])" } else { 'named' }))
            $w.WriteAttributeString('pipelineInput', (Get-PipelineInput $first))
            $w.WriteAttributeString('globbing', "$([bool]($p.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] }))".ToLowerInvariant())
            if ($p.Aliases.Count) { $w.WriteAttributeString('aliases', ($p.Aliases -join ', ')) }
            $w.WriteElementString('name', $ns.maml, $p.Name)
            $valueType = if ([Nullable]::GetUnderlyingType($p.ParameterType)) { [Nullable]::GetUnderlyingType($p.ParameterType) } else { $p.ParameterType }
            if ($valueType.IsEnum) { $text += " Accepted values: $([enum]::GetNames($valueType) -join ', ')." }
            Write-Description $text
            if ($p.ParameterType -ne [System.Management.Automation.SwitchParameter]) {
                $w.WriteStartElement('parameterValue', $ns.command)
                $w.WriteAttributeString('required', 'true')
                $w.WriteString((Get-TypeName $p.ParameterType))
                $w.WriteEndElement()
            }
            $w.WriteStartElement('type', $ns.dev)
            $w.WriteElementString('name', $ns.maml, $p.ParameterType.FullName)
            $w.WriteEndElement()
            $w.WriteElementString('defaultValue', $ns.dev, (Get-DefaultText $instance $p.Name))
            $w.WriteEndElement()
        }
        $w.WriteEndElement()

        $w.WriteStartElement('inputTypes', $ns.command)
        foreach ($p in $params | Where-Object { $_.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and ($_.ValueFromPipeline -or $_.ValueFromPipelineByPropertyName) } }) {
            $w.WriteStartElement('inputType', $ns.command)
            $w.WriteStartElement('type', $ns.dev)
            $w.WriteElementString('name', $ns.maml, $p.ParameterType.FullName)
            $w.WriteEndElement()
            Write-Description "Binds -$($p.Name) from the pipeline$(if ($p.Aliases.Count) { " (also by property name $($p.Aliases -join ', '))" })."
            $w.WriteEndElement()
        }
        $w.WriteEndElement()

        $w.WriteStartElement('returnValues', $ns.command)
        foreach ($o in $cmd.OutputType) {
            $w.WriteStartElement('returnValue', $ns.command)
            $w.WriteStartElement('type', $ns.dev)
            $w.WriteElementString('name', $ns.maml, $o.Name)
            $w.WriteEndElement()
            $w.WriteEndElement()
        }
        $w.WriteEndElement()

        $w.WriteStartElement('examples', $ns.command)
        $member = $docs["T:$($type.FullName)"]
        $i = 0
        foreach ($ex in @(if ($member) { $member.SelectNodes('example') })) {
            $i++
            $w.WriteStartElement('example', $ns.command)
            $w.WriteElementString('title', $ns.maml, "-------------------------- Example $i --------------------------")
            $w.WriteElementString('code', $ns.dev, (Get-DocText $ex['code']))
            $w.WriteStartElement('remarks', $ns.dev)
            foreach ($para in @($ex.SelectNodes('para'))) { Write-Para (Get-DocText $para) }
            $w.WriteEndElement()
            $w.WriteEndElement()
        }
        if ($i -eq 0) { throw "$($cmd.Name) has no <example> doc comment." }
        $w.WriteEndElement()

        $w.WriteStartElement('relatedLinks', $ns.maml)
        foreach ($link in @('about_ModelOps') + @(Get-Command -Module $module.Name -CommandType Cmdlet | Where-Object Name -ne $cmd.Name | ForEach-Object Name)) {
            $w.WriteStartElement('navigationLink', $ns.maml)
            $w.WriteElementString('linkText', $ns.maml, $link)
            $w.WriteEndElement()
        }
        $w.WriteEndElement()

        $w.WriteEndElement() # command
    }
    $w.WriteEndElement()
    $w.WriteEndDocument()
}
finally {
    $w.Dispose()
}

Copy-Item -Path (Join-Path $AboutFolder 'about_*.help.txt') -Destination $outDir -Force
Write-Host "Help written to $outDir"
