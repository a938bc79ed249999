"""Make an `asv publish` dashboard work without internet access.

asv's index.html loads jQuery, flot, bootstrap, md5, stupidtable and
flot-orderbars from CDNs. This copies Debian's packaged copies
(apt-get install libjs-jquery libjs-jquery-flot libjs-bootstrap node-blueimp-md5)
into html/vendor/ and points index.html at them; stupidtable and orderBars,
which Debian does not package, get small stand-ins (no table sorting, bars
drawn side by side without ordering).

    python asv_benchmarks/offline_html.py asv_benchmarks/html
"""
import os
import re
import shutil
import sys

SYS = "/usr/share/javascript"
FILES = {  # CDN file name -> local source (None: stand-in written below)
    "jquery-3.3.1.min.js": f"{SYS}/jquery/jquery.min.js",
    "jquery.flot.min.js": f"{SYS}/jquery-flot/jquery.flot.js",   # flot 4 bundle: all plugins
    "jquery.flot.time.min.js": None,
    "jquery.flot.selection.min.js": None,
    "jquery.flot.categories.min.js": None,
    "jquery.flot.orderBars.js": None,
    "stupidtable.min.js": None,
    "md5.min.js": f"{SYS}/blueimp-md5/md5.min.js",
    "bootstrap.min.js": f"{SYS}/bootstrap/js/bootstrap.min.js",
    "bootstrap.min.css": f"{SYS}/bootstrap/css/bootstrap.min.css",
}
# flot 4 draws its legend and axis labels itself: style the legend's SVG
# (the flot examples' CSS) and drop asv's own axis-label plugin (else twice)
FLOT4_CSS = (".legendLayer .background { fill: rgba(255, 255, 255, 0.85); "
             "stroke: rgba(0, 0, 0, 0.85); stroke-width: 1; }\n")
STANDINS = {
    "stupidtable.min.js": "(function($){$.fn.stupidtable=function(){return this;};})(jQuery);\n",
}


def main(html):
    vendor = os.path.join(html, "vendor")
    os.makedirs(vendor, exist_ok=True)
    for name, src in FILES.items():
        dst = os.path.join(vendor, name)
        if src:
            shutil.copyfile(src, dst)
        else:
            with open(dst, "w") as f:
                f.write(STANDINS.get(name, "/* bundled in jquery.flot.min.js */\n"))
    with open(os.path.join(vendor, "flot4-fixes.css"), "w") as f:
        f.write(FLOT4_CSS)
    for page in ("index.html", "error.html"):
        path = os.path.join(html, page)
        if not os.path.exists(path):
            continue
        text = open(path).read()
        text = re.sub(r'(src|href)="https?://[^"]*/([^"/]+\.(?:js|css))"',
                      lambda m: f'{m.group(1)}="vendor/{m.group(2)}"'
                      if m.group(2) in FILES else m.group(0), text)
        text = re.sub(r'\s*<script[^>]*src="jquery\.flot\.axislabels\.js"></script>', "", text)
        # the CDN files' integrity hashes do not fit the local copies
        text = re.sub(r'(<(?:script|link)[^>]*?"vendor/[^"]+")([^>]*)>',
                      lambda m: m.group(1) + re.sub(
                          r'\s(?:integrity|crossorigin|referrerpolicy)="[^"]*"', "",
                          m.group(2)) + ">", text)
        if "vendor/flot4-fixes.css" not in text:
            text = text.replace('<link rel="stylesheet" href="vendor/bootstrap.min.css">',
                                '<link rel="stylesheet" href="vendor/bootstrap.min.css">\n'
                                '    <link rel="stylesheet" href="vendor/flot4-fixes.css">')
        open(path, "w").write(text)
    print(f"vendored {len(FILES)} files into {vendor}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "html")
