"""Exercises with automatic checks, written once and turned into student copies.

- :mod:`course_lib.exercises.build` turns ``exercises/solutions/NN_topic_solutions.ipynb`` into the
  student copies ``exercises/NN_topic_exercises.ipynb`` (``course exercises build``).
- :mod:`course_lib.exercises.checks` holds the neutral feedback helpers
  (:class:`ExerciseCheckError`, :func:`run_checks`, shape/dtype/value comparisons that never
  print the answer).
- ``course_lib.exercises.lessonNN`` holds one lesson's checks, e.g.
  ``from course_lib.exercises.lesson00 import check_standardize_images``.
"""

from course_lib.exercises.checks import ExerciseCheckError, run_checks, skip_if_not_implemented

__all__ = ["ExerciseCheckError", "run_checks", "skip_if_not_implemented"]
