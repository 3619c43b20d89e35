"""The application database: schema, migrations and the queries that read and write it."""
