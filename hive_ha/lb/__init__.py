"""Load-balancer configs for Hue's web tier, Impala and HiveServer2: a typed model, profiles, emitters.

    from hive_ha.lb import ProfileOptions, build, render, check
    model = build("haproxy", "impala", ProfileOptions(servers=(("impalad1", 21050), ("impalad2", 21050))))
    text = render("haproxy", model)          # a complete haproxy.cfg
    check("haproxy", text)                   # haproxy -c; raises LoadBalancerConfigRejected
    check_model("haproxy", model)            # the same, with the runtime paths in a scratch dir (a fresh machine)
    model = model.with_servers({"impala_jdbc": new_servers})   # re-render after the pool changed
"""
from hive_ha.lb.model import (Address, HealthCheck, Listener, LoadBalancer, RuntimePaths, Server, Stats, Timeouts, Tls,
                              server_name)
from hive_ha.lb.profiles import PROFILES, SUPPORTED, ProfileOptions, build
from hive_ha.lb.render import check, check_model, render, write_atomically

__all__ = ["Address", "HealthCheck", "Listener", "LoadBalancer", "PROFILES", "ProfileOptions", "RuntimePaths",
           "SUPPORTED", "Server", "Stats", "Timeouts", "Tls", "build", "check", "check_model", "render", "server_name",
           "write_atomically"]
