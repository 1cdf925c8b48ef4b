"""The Docker labels every proctor container carries, whoever starts it.

Task and sandbox containers (the local executor), the model server of a docker
deployment: one vocabulary, as docker-compose's ``com.docker.compose.*``, so one list
call by label finds everything of an invocation.
"""

LABEL_INVOCATION = "proctor.invocation"
LABEL_JOB = "proctor.job"
LABEL_TASK = "proctor.task"
LABEL_CONFIG_HASH = "proctor.config-hash"
LABEL_ROLE = "proctor.role"  # "task", "deployment" or "sandbox"
