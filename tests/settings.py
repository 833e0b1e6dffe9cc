"""The settings every test app and process starts from."""

from tasks.settings import Settings

# The tests start many jobs in a row, from one address: rate limits they never reach
# (tests of the limits set their own). And a request may wait on PostgreSQL and Redis far
# longer than the second it may in production: most tests are about what a request does,
# not about how fast a loaded machine (the suite runs in parallel) lets it happen.
TEST_ENVIRONMENT = {
    "APP_ENV": "test",
    "JOBS_RATE_LIMIT_PER_KEY": "1000000/minute",
    "JOBS_RATE_LIMIT_PER_ADDRESS": "1000000/minute",
    "API_DEPENDENCY_TIMEOUT": "10",
}
# The tests of that bound (a hung or dead server) run with the production value.
PROMISED_DEADLINES = {"API_DEPENDENCY_TIMEOUT": "1"}


def settings_for(database_url: str, redis_url: str, **environ: str) -> Settings:
    return Settings.from_environ(
        {**TEST_ENVIRONMENT, "DATABASE_URL": database_url, "REDIS_URL": redis_url, **environ}
    )
