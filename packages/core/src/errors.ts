/** Base class of every error profcol raises on purpose, so callers can count them by kind. */
export class ProfcolError extends Error {
  /** A short, stable word for counting errors by kind (`decompress`, `config`, ...). */
  readonly kind: string;
  constructor(kind: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.kind = kind;
  }
}

/** Where in the configuration a problem is: a `::`-joined path plus the file and line it came from. */
export interface ConfigIssue {
  path: string;
  message: string;
  file?: string;
  line?: number;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.file ? ` (${issue.file}${issue.line ? `:${issue.line}` : ''})` : '';
  return `${issue.path ? `${issue.path}: ` : ''}${issue.message}${where}`;
}

/** Every configuration problem found, reported at once. */
export class ConfigError extends ProfcolError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(
      'config',
      `invalid configuration (${issues.length} ${issues.length === 1 ? 'error' : 'errors'}):\n` + issues.map((i) => `  ${formatIssue(i)}`).join('\n'),
    );
    this.issues = issues;
  }
}

/** A consumer refused a batch because it is full or its backend is down; the sender should retry later. */
export class BackpressureError extends ProfcolError {
  /** How long the sender should wait before retrying, when known. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number, options?: { cause?: unknown }) {
    super('backpressure', message, options);
    this.retryAfterMs = retryAfterMs;
  }
}

/** A batch that can never be accepted, however often it is retried (bad data, not a busy pipeline). */
export class PermanentError extends ProfcolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('permanent', message, options);
  }
}
