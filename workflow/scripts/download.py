import logging
import shutil
import urllib.request

from stpath import logs
from stpath.atomic import atomic_path

logs.to_file(snakemake.log[0])
url = snakemake.params.url
logging.info("downloading %s", url)
with atomic_path(snakemake.output[0]) as tmp, urllib.request.urlopen(url, timeout=120) as response, open(tmp, "wb") as f:
    shutil.copyfileobj(response, f)
