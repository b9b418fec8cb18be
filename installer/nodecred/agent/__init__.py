"""The DaemonSet's process: reconcile this node, pace kubelet restarts cluster-wide, report on the Node."""
