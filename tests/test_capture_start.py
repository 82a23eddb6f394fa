"""The recorder's start skips what py-wacz's index imports and never uses
(``recorder.skip_unused_imports``), and the index it builds is the same."""

from __future__ import annotations

import json
import subprocess
import sys

#: Run in a fresh interpreter: the index's libraries loaded as the recorder loads them.
PROBE = """
import json, sys
{setup}
from newsarchive.capture.index import LiveIndex
LiveIndex().start()
import pyamf.util.imports, surt, surt.handyurl
handy = sys.modules["surt.handyurl"]
urls = ["http://www.Example.com:80/a/../b?b=2&a=1", "https://127.0.0.1:8000/x/", "http://xn--bcher-kva.de/%7Efoo"]
loaded = sorted(name for name in ("requests", "pkg_resources", "filelock") if name in sys.modules)
found = {{"keys": [surt.surt(url) for url in urls], "loaded": loaded,
         # registered, or applied already (its module was imported first)
         "adapters": sorted(set(pyamf.util.imports.finder.post_load_hooks) | {{
             name[16:].replace("_", ".") for name in sys.modules
             if name.startswith("pyamf.adapters._")}})}}
found["tldextract_type"] = type(sys.modules["tldextract"]).__name__
found["extract_callable"] = callable(handy.tldextract.extract)  # imports it now
found["tldextract_after"] = type(sys.modules["tldextract"]).__name__
found["boilerpy3_loaded"] = "boilerpy3.parser" in sys.modules
from wacz import waczindexer  # py-wacz reaches its page-text extractor this way
extractor = waczindexer.extractors.ArticleExtractor(raise_on_failure=False)  # imports it now
page = "<html><body><p>" + "Page text here. " * 20 + "</p></body></html>"
found["page_text"] = extractor.get_content(page)[:15]
found["boilerpy3_after"] = type(sys.modules["boilerpy3"]).__name__
print(json.dumps(found))
"""
SKIP = "from newsarchive.capture.recorder import skip_unused_imports; skip_unused_imports()"


def probe(setup: str) -> dict:
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", PROBE.format(setup=setup)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout)


def test_the_recorder_starts_without_what_the_index_never_uses_and_keys_the_same():
    eager, skipping = probe(""), probe(SKIP)
    assert skipping["loaded"] == [] and eager["loaded"] == ["filelock", "pkg_resources", "requests"]
    assert skipping["keys"] == eager["keys"]
    assert skipping["adapters"] == eager["adapters"]
    assert skipping["tldextract_type"] == "_OnFirstUse" and eager["tldextract_type"] == "module"
    # read once, the stand-in imports the real module, and surt can use it
    assert skipping["extract_callable"] and skipping["tldextract_after"] == "module"
    # py-wacz's page-text extractor: not loaded until used, then the real one
    assert not skipping["boilerpy3_loaded"] and eager["boilerpy3_loaded"]
    assert skipping["page_text"] == eager["page_text"] == "Page text here."
    assert skipping["boilerpy3_after"] == eager["boilerpy3_after"] == "module"
