"""Stand-in for ``desktop/core/src/desktop/lib/security_util.py``: the ``_HOST`` substitution of Kerberos
principals and Hue's ``get_fqdn`` (a reverse look-up; ``localhost`` becomes this machine's FQDN)."""
import re
import socket

HOSTNAME_PATTERN = '_HOST'


def get_kerberos_principal(principal, host):
    components = get_components(principal)
    if not components or len(components) != 3 or components[1] != HOSTNAME_PATTERN:
        return principal
    if not host:
        raise IOError("Can't replace %s pattern since host is null." % HOSTNAME_PATTERN)
    return replace_hostname_pattern(components, host)


def get_components(principal):
    if not principal:
        return None
    return re.split(r'[\/@]', str(principal))


def replace_hostname_pattern(components, host):
    fqdn = host
    if not fqdn or fqdn == '0.0.0.0':
        fqdn = get_localhost_name()
    return '%s/%s@%s' % (components[0], fqdn.lower(), components[2])


def get_localhost_name():
    return socket.getfqdn()


def get_fqdn(hostname_or_ip):
    try:
        fqdn = socket.gethostbyaddr(hostname_or_ip)[0]
    except IOError:
        fqdn = hostname_or_ip
    if fqdn == 'localhost':
        fqdn = get_localhost_name()
    return fqdn
