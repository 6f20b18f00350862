/// The schema of Leitstand, in order. Append new migrations; never edit one that has shipped.
public enum LeitstandSchema {
    public static let migrations: [Migration] = [
        Migration(
            version: 1,
            name: "audit_log",
            statements: [
                """
                CREATE TABLE audit_log (
                    id bigserial PRIMARY KEY,
                    at timestamptz NOT NULL DEFAULT now(),
                    service text NOT NULL,
                    actor text NOT NULL,
                    type text NOT NULL,
                    subject text NOT NULL,
                    detail jsonb NOT NULL DEFAULT '{}'::jsonb
                )
                """,
                "CREATE INDEX audit_log_at ON audit_log (at)",
                "CREATE INDEX audit_log_subject ON audit_log (subject, at)",
            ]
        )
    ]
}
