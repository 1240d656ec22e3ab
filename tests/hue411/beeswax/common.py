"""Stand-in for ``is_compute`` of ``apps/beeswax/src/beeswax/common.py``."""

COMPUTE_TYPES = ['hive-compute', 'impala-compute', 'trino-compute']


def is_compute(cluster):
    if not cluster:
        return False
    connector = cluster.get('connector')
    compute = cluster.get('compute')

    def compute_check(x):
        return x and x.get('type') in COMPUTE_TYPES
    return compute_check(cluster) or compute_check(connector) or compute_check(compute)
