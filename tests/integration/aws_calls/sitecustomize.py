"""Records every AWS API call a playbook's modules make (``service Operation`` lines appended to the file named by
PORTKEY_AWS_CALL_LOG), for the test that checks the IAM policy in docs/getting-started-eks.md.

On PYTHONPATH of the integration tests' playbook runs only. botocore is patched when something imports it (a
meta-path hook), so processes that never use AWS pay nothing.
"""
import os
import sys

_LOG = os.environ.get('PORTKEY_AWS_CALL_LOG')


def _patch(module):
    original = module.BaseClient._make_api_call

    def _make_api_call(self, operation_name, api_params):
        with open(_LOG, 'a', encoding='utf-8') as handle:
            handle.write(f'{self.meta.service_model.service_name} {operation_name}\n')
        return original(self, operation_name, api_params)
    module.BaseClient._make_api_call = _make_api_call


class _Finder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != 'botocore.client':
            return None
        sys.meta_path.remove(_Finder)
        try:
            import importlib.util
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, _Finder)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def patched(module):
            exec_module(module)
            _patch(module)
        loader.exec_module = patched
        return spec


if _LOG:
    sys.meta_path.insert(0, _Finder)
