import { ErrorCode, FerryError } from '@ferry/protocol';

/** A scenario that does not validate: every problem found, each naming its field's path. */
export function scenarioError(problems: readonly string[]): FerryError {
  return new FerryError(ErrorCode.Scenario, `invalid scenario:\n  ${problems.join('\n  ')}`);
}

/** A plan that cannot exist; the message names the constraint family that cannot hold. */
export function infeasible(family: string, detail: string): FerryError {
  return new FerryError(ErrorCode.Infeasible, `${family}: ${detail}`);
}
