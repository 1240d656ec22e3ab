"""hive-ha: ZooKeeper-aware high availability for HiveServer2, Hive LLAP/HSI and Impala clients."""
import re

from setuptools import find_packages, setup

# The one version string lives in hive_ha/_version.py; read, not imported (setup.py runs before the install).
VERSION = re.search(r'^__version__ = "([^"]+)"', open("hive_ha/_version.py", encoding="utf-8").read(), re.M).group(1)

# Lower bounds never exceed Hue 4.11's pins (kazoo 2.8.0, thrift 0.16.0, thrift-sasl 0.4.3,
# pure-sasl 0.6.2, Django 4.2), so installing into Hue's virtualenv moves none of them (tests/hue/test_pins.py).
THRIFT = ["thrift>=0.13.0", "thrift-sasl>=0.4.2", "pure-sasl>=0.6.2"]
EXTRAS = {
    "hue": ["Django>=3.2", "prometheus_client>=0.7"],
    "lb": [],  # the emitters use string.Template and the real haproxy/nginx/apache2 binaries
    # SQLAlchemy: Hue 4.11 pins 1.3.8; PyHive 0.7's dialect also runs on 2.0 (checked). No impyla here: its
    # top-level package "impala" would collide with Hue's Impala app in Hue's virtualenv (install it yourself
    # for driver="impyla" in standalone programs).
    # SASL toward ZooKeeper (kazoo's client is pure-sasl) and GSSAPI toward HiveServer2 (builds with libkrb5-dev + gcc);
    # gssapi (same build needs) keeps a ticket cache of hive-ha's own to hive-ha's threads (hive_ha/io/kerberos.py).
    "kerberos": ["kerberos>=1.3.0", "pure-sasl>=0.6.2", "gssapi>=1.6"],
    "dbapi": ["PyHive>=0.7.0", "SQLAlchemy>=1.3.8,<2.1"] + THRIFT,
    # `hive-ha sandbox`: HiveServer2-protocol test servers (PyHive's TCLIService over thrift). With --kerberos also
    # the kerberos extra and gssapi (the servers' GSSAPI acceptor).
    "sandbox": ["PyHive>=0.7.0"] + THRIFT,
    # The tools of the tests that run inside Hue's own virtualenv (tests/hue, scripts/hue-venv.sh installs them).
    "hue-test": ["pytest>=7", "pytest-django>=4.5"],
    "test": [
        "pytest>=7",
        "hypothesis>=6",
        "build>=1.0",  # make dist, and tests/hue/test_pins.py builds the wheel docs/hue.md installs
        "PyHive>=0.7.0",
        # driver="impyla" against the test servers (this venv only, never Hue's: see "dbapi" above); 0.22+ needs
        # thrift 0.23, past Hue's pin.
        "impyla>=0.19,<0.22",
        "cryptography>=3.4",
        "kerberos>=1.3.0",  # pykerberos: pure-sasl's GSSAPI client (Kerberized ZooKeeper and HiveServer2 tests)
        "gssapi>=1.6",  # the test servers' GSSAPI acceptor (hive_ha/sandbox/gssapi_sasl.py)
        "mkdocs>=1.6",  # tests/test_docs.py builds the documentation site with --strict
        # tests.rig.spark runs Spark Thrift Server from this package (bin/spark-submit and the jars ship in
        # it); 4.x needs Java 17, the system deps' default-jre-headless on Debian 12. Tested with 4.3.0.
        "pyspark>=4.0",
    ]
    + THRIFT,
    "bench": ["matplotlib>=3.5"],  # benchmarks/plot.py and docs/gen_architecture.py draw the PNGs in docs/img
}

setup(
    name="hive-ha",
    version=VERSION,
    description=__doc__,
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.8",
    packages=find_packages(include=["hive_ha", "hive_ha.*", "hue_integration", "hue_integration.*"]),
    include_package_data=True,
    install_requires=["kazoo>=2.8.0", "configobj>=5.0.6"],
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": ["hive-ha = hive_ha.cli:main"],
        # Hue finds its apps through this group (desktop/core/src/desktop/appmanager.py).
        "desktop.sdk.application": ["hive_ha = hue_integration"],
        "sqlalchemy.dialects": ["hive.zookeeper = hive_ha.clients.sqlalchemy:HiveZooKeeperDialect"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Django",
        "Topic :: Database",
    ],
)
