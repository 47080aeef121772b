/**
 * The planner's own errors. They never cross the wire (the planner runs inside `ferry plan`), so their
 * codes live here rather than in the protocol's table; the `FERRY_ERR_` prefix keeps them stable and
 * greppable like the rest.
 */
export const PlannerErrorCode = {
  /** A planning scenario (`ferry plan --scenario`) does not validate. */
  Scenario: 'FERRY_ERR_SCENARIO',
  /** A migration plan cannot satisfy its constraints (capacity, links, conservation). */
  Infeasible: 'FERRY_ERR_INFEASIBLE',
} as const;
export type PlannerErrorCode = (typeof PlannerErrorCode)[keyof typeof PlannerErrorCode];

/** Bad planning input: the message says what to fix; `ferry plan` exits 2 with it. */
export class PlannerError extends Error {
  override readonly name = 'PlannerError';
  readonly code: PlannerErrorCode;

  constructor(code: PlannerErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** A scenario that does not validate: every problem found, each naming its field's path. */
export function scenarioError(problems: readonly string[]): PlannerError {
  return new PlannerError(PlannerErrorCode.Scenario, `invalid scenario:\n  ${problems.join('\n  ')}`);
}

/** A plan that cannot exist; the message names the constraint family that cannot hold. */
export function infeasible(family: string, detail: string): PlannerError {
  return new PlannerError(PlannerErrorCode.Infeasible, `${family}: ${detail}`);
}
