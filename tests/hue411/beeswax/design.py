"""Stand-in for ``hql_query`` and the parts of ``HQLdesign`` (``apps/beeswax/src/beeswax/design.py``) the notebook's
execute path uses: ``hql_query``, ``query``, ``database``, ``settings``, ``file_resources``, ``functions``,
``statements``, ``get_configuration_statements()``, ``get_query_statement(n)``.

Simplified: statements are split at semicolons outside quotes (Hue's splitter also knows comments and hplsql);
file resources without a scheme are not prefixed with the HDFS default FS.
"""
SERIALIZATION_VERSION = '0.4.1'


def _split(hql):
    statements, current, quote = [], '', None
    for ch in hql:
        if quote:
            quote = None if ch == quote else quote
        elif ch in ('"', "'", '`'):
            quote = ch
        elif ch == ';':
            if current.strip():
                statements.append(current.strip())
            current = ''
            continue
        current += ch
    if current.strip():
        statements.append(current.strip())
    return statements or ['']


def strip_trailing_semicolon(query):
    return query.strip().rstrip(';').strip() if query else query


def hql_query(hql, database='default', query_type=None, settings=None, file_resources=None, functions=None):
    data_dict = HQLdesign.get_default_data_dict()
    if not isinstance(hql, str):
        raise Exception('Requires a SQL text query of type <str>, <unicode> and not %s' % type(hql))
    data_dict['query']['query'] = strip_trailing_semicolon(hql)
    data_dict['query']['database'] = database
    if query_type:
        data_dict['query']['type'] = query_type
    if settings is not None:
        data_dict['settings'] = settings
    if file_resources is not None:
        data_dict['file_resources'] = file_resources
    if functions is not None:
        data_dict['functions'] = functions
    design = HQLdesign()
    design._data_dict = data_dict
    return design


class HQLdesign(object):
    """A query with its settings, file resources and functions."""

    @property
    def database(self):
        return self._data_dict['query']['database']

    @property
    def hql_query(self):
        return self._data_dict['query']['query']

    @property
    def query(self):
        return self._data_dict['query'].copy()

    @property
    def settings(self):
        return list(self._data_dict.get('settings', []))

    @property
    def file_resources(self):
        return list(self._data_dict.get('file_resources', []))

    @property
    def functions(self):
        return list(self._data_dict.get('functions', []))

    @property
    def statements(self):
        return [strip_trailing_semicolon(s) for s in _split(strip_trailing_semicolon(self.hql_query))]

    @staticmethod
    def get_default_data_dict():
        return {
            'query': {'email_notify': False, 'query': None, 'type': 0, 'is_parameterized': True, 'database': 'default'},
            'functions': [],
            'VERSION': SERIALIZATION_VERSION,
            'file_resources': [],
            'settings': [],
        }

    def get_configuration_statements(self):
        configuration = []
        for f in self.file_resources:
            configuration.append('ADD %(type)s %(path)s' % {'type': f['type'].upper(), 'path': f['path']})
        for f in self.functions:
            configuration.append("CREATE TEMPORARY FUNCTION %(name)s AS '%(class_name)s'" % f)
        return configuration

    def get_query_statement(self, n=0):
        return self.statements[n]
