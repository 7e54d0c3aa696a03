"""The publish stage: release folders, grouped configs, the Hub push (:mod:`jokemine.publish.release`).

``jokemine.publish(config, ...)`` is also the API function :func:`jokemine.api.publish`: this package shares its
name, so calling the package calls the function (:func:`jokemine.api.callable_module`).
"""

from jokemine.api import callable_module

callable_module(__name__, "publish")
