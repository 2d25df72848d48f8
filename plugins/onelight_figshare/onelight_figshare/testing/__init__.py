"""Test support of the figshare plugin (install the extra: pip install onelight-figshare[testing]).

:mod:`.emulator`: a stateful figshare v2 emulator served on 127.0.0.1 (werkzeug); :mod:`.fuzz`: fuzz targets.
"""
