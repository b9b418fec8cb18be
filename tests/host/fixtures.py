"""Host trees per distribution, from the distributions' own unit and flag files.

Sources: kubeadm's 10-kubeadm.conf and kubelet.service as the DEB/RPM packages ship them;
awslabs/amazon-eks-ami templates (AL2 kubelet.service, its config.json; AL2023's nodeadm unit
and /etc/eks/kubelet/environment); the k3s/RKE2 install scripts' units; MicroK8s'
default-args/kubelet; kube-up's GCE kubelet unit with auth-provider-gcp; AgentBaker's AKS unit.
"""

from __future__ import annotations

import os
from pathlib import Path

KUBELET_SERVICE = """\
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""

KUBEADM_DROPIN = """\
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-{user_file}
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""

KUBEADM_FLAGS = (
    'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock '
    '--pod-infra-container-image=registry.k8s.io/pause:3.10"\n'
)

EKS_ECR_CONFIG = """\
{
  "apiVersion": "kubelet.config.k8s.io/v1",
  "kind": "CredentialProviderConfig",
  "providers": [
    {
      "name": "ecr-credential-provider",
      "matchImages": [
        "*.dkr.ecr.*.amazonaws.com",
        "*.dkr.ecr.*.amazonaws.com.cn",
        "*.dkr.ecr-fips.*.amazonaws.com",
        "*.dkr.ecr.*.c2s.ic.gov",
        "*.dkr.ecr.*.sc2s.sgov.gov"
      ],
      "defaultCacheDuration": "12h",
      "apiVersion": "credentialprovider.kubelet.k8s.io/v1"
    }
  ]
}
"""

EKS_AL2_SERVICE = """\
[Unit]
Description=Kubernetes Kubelet
Documentation=https://github.com/kubernetes/kubernetes
After=containerd.service sandbox-image.service
Requires=containerd.service sandbox-image.service

[Service]
Slice=runtime.slice
ExecStartPre=/sbin/iptables -P FORWARD ACCEPT -w 5
ExecStart=/usr/bin/kubelet \\
    --config /etc/kubernetes/kubelet/kubelet-config.json \\
    --kubeconfig /var/lib/kubelet/kubeconfig \\
    --container-runtime-endpoint unix:///run/containerd/containerd.sock \\
    --image-credential-provider-config /etc/eks/image-credential-provider/config.json \\
    --image-credential-provider-bin-dir /etc/eks/image-credential-provider \\
    $KUBELET_ARGS \\
    $KUBELET_EXTRA_ARGS

Restart=on-failure
RestartForceExitStatus=SIGPIPE
RestartSec=5
KillMode=process
CPUAccounting=true
MemoryAccounting=true

[Install]
WantedBy=multi-user.target
"""

EKS_AL2023_SERVICE = """\
[Unit]
Description=Kubernetes Kubelet
Documentation=https://github.com/kubernetes/kubernetes
After=containerd.service
Wants=containerd.service

[Service]
Slice=runtime.slice
EnvironmentFile=/etc/eks/kubelet/environment
ExecStartPre=/sbin/iptables -P FORWARD ACCEPT -w 5
ExecStart=/usr/bin/kubelet $NODEADM_KUBELET_ARGS

Restart=on-failure
RestartForceExitStatus=SIGPIPE
RestartSec=5
KillMode=process
CPUAccounting=true
MemoryAccounting=true

[Install]
WantedBy=multi-user.target
"""

K3S_AGENT_SERVICE = """\
[Unit]
Description=Lightweight Kubernetes
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-/etc/systemd/system/k3s-agent.service.env
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/k3s \\
    agent \\

"""

RKE2_SERVER_SERVICE = """\
[Unit]
Description=Rancher Kubernetes Engine v2 (server)
Documentation=https://github.com/rancher/rke2#readme
Wants=network-online.target
After=network-online.target
Conflicts=rke2-agent.service

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-/usr/local/lib/systemd/system/%N.env
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=/bin/sh -xc '! /usr/bin/systemctl is-enabled --quiet nm-cloud-setup.service'
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/rke2 server
ExecStopPost=-/bin/sh -c "systemd-cgls /system.slice/%n | grep -Eo '[0-9]+ (containerd|kubelet)' | awk '{print $1}' | xargs -r kill"
"""

MICROK8S_ARGS = """\
--resolv-conf=${RESOLV_CONF}
--kubeconfig=${SNAP_DATA}/credentials/kubelet.config
--cert-dir=${SNAP_DATA}/certs
--client-ca-file=${SNAP_DATA}/certs/ca.crt
--anonymous-auth=false
--root-dir=${SNAP_COMMON}/var/lib/kubelet
--fail-swap-on=false
--eviction-hard="memory.available<100Mi,nodefs.available<1Gi,imagefs.available<1Gi"
--container-runtime-endpoint=${SNAP_COMMON}/run/containerd.sock
--containerd=${SNAP_COMMON}/run/containerd.sock
--node-labels="microk8s.io/cluster=true,node.kubernetes.io/microk8s-controlplane=microk8s-controlplane"
--authentication-token-webhook=true
--cluster-domain=cluster.local
--cluster-dns=10.152.183.10
--serialize-image-pulls=false
"""

MICROK8S_SERVICE = """\
[Unit]
Description=Service for snap application microk8s.daemon-kubelite
Requires=snap-microk8s-7394.mount
Wants=network.target
After=snap-microk8s-7394.mount network.target snapd.apparmor.service
X-Snappy=yes

[Service]
EnvironmentFile=-/etc/environment
ExecStart=/usr/bin/snap run microk8s.daemon-kubelite
SyslogIdentifier=microk8s.daemon-kubelite
Restart=always
WorkingDirectory=/var/snap/microk8s/7394
TimeoutStopSec=30
Type=simple

[Install]
WantedBy=multi-user.target
"""

GCE_SERVICE = """\
[Unit]
Description=Kubernetes kubelet
Requires=network-online.target
After=network-online.target

[Service]
Restart=always
RestartSec=10
EnvironmentFile=/etc/default/kubelet
ExecStart=/home/kubernetes/bin/kubelet $KUBELET_OPTS

[Install]
WantedBy=multi-user.target
"""

GCE_AUTH_CONFIG = """\
kind: CredentialProviderConfig
apiVersion: kubelet.config.k8s.io/v1
providers:
  - name: auth-provider-gcp
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    matchImages:
    - "container.cloud.google.com"
    - "gcr.io"
    - "*.gcr.io"
    - "*.pkg.dev"
    args:
    - get-credentials
    - --v=3
    defaultCacheDuration: 1m
"""

CUSTOM_SERVICE = """\
[Unit]
Description=kubelet (built by hand)

[Service]
EnvironmentFile=/etc/kubernetes/kubelet.env
ExecStart=/usr/local/bin/kubelet --config=/etc/kubernetes/kubelet.yaml $KUBELET_ARGS
Restart=always
"""

EXECUTABLE = "#!/bin/sh\nexit 0\n"

TREES: dict[str, dict[str, str]] = {
    "kubeadm-deb": {
        "/lib/systemd/system/kubelet.service": KUBELET_SERVICE,
        "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf": KUBEADM_DROPIN.format(
            user_file="/etc/default/kubelet"
        ),
        "/var/lib/kubelet/kubeadm-flags.env": KUBEADM_FLAGS,
        "/etc/default/kubelet": "KUBELET_EXTRA_ARGS=\n",
    },
    "kubeadm-rpm": {
        "/usr/lib/systemd/system/kubelet.service": KUBELET_SERVICE,
        "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": KUBEADM_DROPIN.format(
            user_file="/etc/sysconfig/kubelet"
        ),
        "/var/lib/kubelet/kubeadm-flags.env": KUBEADM_FLAGS,
        "/etc/sysconfig/kubelet": 'KUBELET_EXTRA_ARGS="--node-labels=tier=batch --max-pods=58"\n',
    },
    "eks-al2": {
        "/etc/systemd/system/kubelet.service": EKS_AL2_SERVICE,
        "/etc/systemd/system/kubelet.service.d/10-kubelet-args.conf": (
            "[Service]\nEnvironment='KUBELET_ARGS=--node-ip=10.0.1.23 "
            "--pod-infra-container-image=602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause:3.5 --v=2'\n"
        ),
        "/etc/systemd/system/kubelet.service.d/30-kubelet-extra-args.conf": (
            "[Service]\nEnvironment='KUBELET_EXTRA_ARGS=--node-labels=eks.amazonaws.com/nodegroup=ng-1'\n"
        ),
        "/etc/eks/image-credential-provider/config.json": EKS_ECR_CONFIG,
        "/etc/eks/image-credential-provider/ecr-credential-provider": EXECUTABLE,
    },
    "eks-al2023": {
        "/etc/systemd/system/kubelet.service": EKS_AL2023_SERVICE,
        "/etc/eks/kubelet/environment": (
            'NODEADM_KUBELET_ARGS="--node-ip=10.0.1.23 --cloud-provider=external '
            "--hostname-override=ip-10-0-1-23.us-west-2.compute.internal "
            "--config=/etc/kubernetes/kubelet/config.json "
            "--config-dir=/etc/kubernetes/kubelet/config.json.d "
            "--kubeconfig=/var/lib/kubelet/kubeconfig "
            "--image-credential-provider-bin-dir=/etc/eks/image-credential-provider "
            "--image-credential-provider-config=/etc/eks/image-credential-provider/config.json "
            '--node-labels=eks.amazonaws.com/nodegroup=ng-1"\n'
        ),
        "/etc/eks/image-credential-provider/config.json": EKS_ECR_CONFIG,
        "/etc/eks/image-credential-provider/ecr-credential-provider": EXECUTABLE,
    },
    "k3s-agent": {
        "/etc/systemd/system/k3s-agent.service": K3S_AGENT_SERVICE,
        "/etc/systemd/system/k3s-agent.service.env": "K3S_TOKEN=K10abc::server:def\nK3S_URL=https://10.0.0.1:6443\n",
        "/etc/rancher/k3s/config.yaml": "node-label:\n  - tier=edge\n",
    },
    "rke2-server": {
        "/usr/local/lib/systemd/system/rke2-server.service": RKE2_SERVER_SERVICE,
        "/etc/rancher/rke2/config.yaml": 'write-kubeconfig-mode: "0644"\ntls-san:\n  - rke2.example.com\n',
    },
    "microk8s": {
        "/etc/systemd/system/snap.microk8s.daemon-kubelite.service": MICROK8S_SERVICE,
        "/var/snap/microk8s/current/args/kubelet": MICROK8S_ARGS,
    },
    "systemd": {
        "/etc/systemd/system/kubelet.service": CUSTOM_SERVICE,
        "/etc/kubernetes/kubelet.env": "# kubelet flags\nKUBELET_ARGS=--node-ip=192.168.1.10\n",
    },
    "systemd-gce": {
        "/etc/systemd/system/kubelet.service": GCE_SERVICE,
        "/etc/default/kubelet": (
            'KUBELET_OPTS="--v=2 --cloud-provider=external '
            "--image-credential-provider-config=/home/kubernetes/cri-auth-config.yaml "
            '--image-credential-provider-bin-dir=/home/kubernetes/bin"\n'
        ),
        "/home/kubernetes/cri-auth-config.yaml": GCE_AUTH_CONFIG,
        "/home/kubernetes/bin/auth-provider-gcp": EXECUTABLE,
        "/home/kubernetes/bin/kubelet": EXECUTABLE,
    },
    # kubelet >= 1.34 reading a directory of provider configs: nodecred adds its own file there.
    "systemd-configdir": {
        "/etc/systemd/system/kubelet.service": CUSTOM_SERVICE,
        "/etc/kubernetes/kubelet.env": (
            "KUBELET_ARGS=--image-credential-provider-config=/etc/kubernetes/credential-providers "
            "--image-credential-provider-bin-dir=/usr/libexec/kubernetes/credential-providers\n"
        ),
        "/etc/kubernetes/credential-providers/10-ecr.yaml": (
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n"
            "- name: ecr-credential-provider\n  matchImages: ['*.dkr.ecr.*.amazonaws.com']\n"
            "  defaultCacheDuration: 12h\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n"
        ),
        "/usr/libexec/kubernetes/credential-providers/ecr-credential-provider": EXECUTABLE,
    },
}
# The profile nodecred reports for each tree, and the unit it restarts.
EXPECTED = {
    "kubeadm-deb": ("kubeadm-deb", "kubelet.service"),
    "kubeadm-rpm": ("kubeadm-rpm", "kubelet.service"),
    "eks-al2": ("eks-al2", "kubelet.service"),
    "eks-al2023": ("eks-al2023", "kubelet.service"),
    "k3s-agent": ("k3s-agent", "k3s-agent.service"),
    "rke2-server": ("rke2-server", "rke2-server.service"),
    "microk8s": ("microk8s", "snap.microk8s.daemon-kubelite.service"),
    "systemd": ("systemd", "kubelet.service"),
    "systemd-gce": ("systemd", "kubelet.service"),
    "systemd-configdir": ("systemd", "kubelet.service"),
}


def build(root: Path, name: str) -> Path:
    for path, text in TREES[name].items():
        full = root / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)
        if text == EXECUTABLE:
            full.chmod(0o755)
    return root


def fake_provider_build(directory: Path) -> Path:
    """A stand-in for the frozen onedir: an executable and an _internal/ file."""
    (directory / "_internal").mkdir(parents=True)
    (directory / "nodecred-provider").write_text(EXECUTABLE)
    (directory / "nodecred-provider").chmod(0o755)
    (directory / "_internal" / "base_library.zip").write_bytes(os.urandom(64))
    return directory


def tree_bytes(root: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every link's target under ROOT (directories are not compared)."""
    out: dict[str, bytes | str] = {}
    for folder, _, names in os.walk(root):
        for name in names:
            full = Path(folder) / name
            rel = "/" + str(full.relative_to(root))
            out[rel] = ("-> " + os.readlink(full)) if full.is_symlink() else full.read_bytes()
    return out


def secret_volume(folder: Path, data: dict[str, bytes]) -> Path:
    """A Secret volume as the kubelet lays it out: each key a link into a timestamped `..data`."""
    stamp = folder / "..2026_11_22_00_00_00.1"
    stamp.mkdir(parents=True)
    for key, value in data.items():
        (stamp / key).write_bytes(value)
        (stamp / key).chmod(0o400)
        (folder / key).symlink_to(f"..data/{key}")
    (folder / "..data").symlink_to(stamp.name)
    return folder
