"""Node-side work: discover where the kubelet takes its flags, plan, apply, restart, verify."""
