"""The Post-Training Improvement course's helper library.

Framework-neutral parts live at the top level (``config``, ``data``, ``results``, ``plots``, …);
``course_lib.torch`` and ``course_lib.keras`` hold the mirrored framework parts::

    from course_lib import config, data
    from course_lib import torch as cl      # or: from course_lib import keras as cl
"""

__version__ = "0.1.0"
