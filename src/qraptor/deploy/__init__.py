"""The services of a deployed stack (deploy/compose.yaml): the session store with
authentication, the MLflow tracking server on PostgreSQL, and the health checks every
container runs. Each reads its password from a mounted secret file, never from an argument
or a container variable, so `docker inspect` shows none."""
