"""Development-only rig, not shipped: Spark Thrift Server (``spark``) and load-balancer processes (``lbrig``)."""
