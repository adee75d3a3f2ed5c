/**
 * The error type for problems with a user's input or options.
 *
 * The command line prints the message of a `GenecontentError` without a stack trace and exits
 * with status 2; any other error is a bug and is shown in full.
 *
 * @module
 */

/**
 * An error caused by the user's input (a file, a taxon, an option), with a message that names the
 * offending item and says what to do.
 *
 * @example
 * ```ts
 * import { GenecontentError } from "./errors.ts";
 * const e = new GenecontentError("Tree file 'a.nwk', line 1, column 5: negative branch length -1.");
 * console.assert(e.name === "GenecontentError");
 * ```
 */
export class GenecontentError extends Error {
  /** Creates an input error with a self-explaining message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GenecontentError";
  }
}
