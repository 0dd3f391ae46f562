"""Where config and workloads come from: the local store (files, ``mainsail apply``), later
Kubernetes and etcd."""
