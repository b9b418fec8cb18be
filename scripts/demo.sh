#!/usr/bin/env bash
# The local demo: judge the example CredentialProviderConfigs exactly as a kubelet
# would, and show which provider the kubelet would run for a few images.
set -uo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; echo "(exit $?)"; }

step "nodecred version"
show nodecred version

step "Validate every example as the newest kubelet would"
for path in examples/*.yaml examples/*.json examples/config.d; do
    show nodecred config validate "$path"
done

step "The same directory, judged by a kubelet that predates directory configs"
show nodecred config validate examples/config.d --kubelet-version 1.33

step "An invalid file: the kubelet would refuse to start, so nodecred refuses to write it"
show nodecred config validate examples/invalid/token-attributes-v1beta1.yaml

step "Which providers the kubelet runs for an image, and why the others not"
show nodecred config explain examples/config.d 123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app:v1
show nodecred config explain examples/config.d myregistry.azurecr.io/app
show nodecred config explain examples/eks-config.json quay.io/team/app
show nodecred config explain examples/nodecred-config.yaml nginx:1.25

step "Install on a host: a kubeadm node's files (examples/hosts/kubeadm-deb), offline"
host=$(mktemp -d)
trap 'rm -rf "$host"' EXIT
cp -a examples/hosts/kubeadm-deb/. "$host/"
cp -a "$host" "$host.orig"
trap 'rm -rf "$host" "$host.orig"' EXIT
show nodecred host plan --root "$host" --binary dist/nodecred-provider
show nodecred host apply --root "$host" --binary dist/nodecred-provider --restart-mode none
show nodecred config validate "$host/etc/nodecred/credential-provider-config.yaml"
show nodecred host plan --root "$host" --binary dist/nodecred-provider

step "An EKS AL2023 node: nodecred joins the ECR provider's config (nodeadm rewrites it at boot)"
eks=$(mktemp -d)
cp -a examples/hosts/eks-al2023/. "$eks/"
show nodecred host plan --root "$eks" --binary dist/nodecred-provider
rm -rf "$eks"

step "Uninstall gives every byte back"
show nodecred host uninstall --root "$host" --restart-mode none
show diff -r --exclude=run "$host" "$host.orig"   # run/lock: the host lock, on /run (a tmpfs) on a real host
