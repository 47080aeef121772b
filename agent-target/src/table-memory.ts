/**
 * What a page table asks before it allocates and tells after it frees: `take` throws FERRY_ERR_LIMIT
 * when the target has no table memory left for this session.
 */
export interface TableMemory {
  take(bytes: number): void;
  give(bytes: number): void;
}

/** For tables that answer to no budget (tests, tools). */
export const UNCHARGED: TableMemory = { take: () => {}, give: () => {} };
