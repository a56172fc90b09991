package check

// Diagnostic codes of the checker. They are stable: tools and tests match on
// them (SPEC §7 `--format json`), so a code is never renamed or reused.
const (
	CodeUnknownModule        = "unknown-module"         // an `import` names no known module
	CodeUnknownEvent         = "unknown-event"          // an event type name is not declared
	CodeUnknownSegment       = "unknown-segment"        // a bare name is neither a segment nor an event type
	CodeUnknownField         = "unknown-field"          // an event has no such field (where, prep filter, aggregate, matching)
	CodeUnknownMemberField   = "unknown-member-field"   // `member.NAME` names no member column or declared member field
	CodeUnknownFunction      = "unknown-function"       // a call names no builtin function
	CodeUnknownType          = "unknown-type"           // a declaration uses a type other than text, number, bool, date, timestamp
	CodeUnknownChannel       = "unknown-channel"        // warning: a send or cap names a channel the environment does not know
	CodeWrongArity           = "wrong-arity"            // a function call has the wrong number of arguments
	CodeTypeMismatch         = "type-mismatch"          // operands or arguments of incompatible types
	CodeNotBool              = "not-bool"               // a condition is not true/false
	CodeCountField           = "count-field"            // count() was given a field
	CodeMissingField         = "missing-field"          // sum/avg/min/max without a field
	CodeBadDuration          = "bad-duration"           // a duration that is fractional, negative or zero where it must be positive
	CodeBadDate              = "bad-date"               // a date or timestamp literal that does not exist
	CodeBadCount             = "bad-count"              // a quantifier count that is not a whole number
	CodeBadClock             = "bad-clock"              // a quiet-hours time of day out of range
	CodeBadCap               = "bad-cap"                // a cap count or period that is not a positive whole number
	CodeBadPriority          = "bad-priority"           // a priority that is not a whole number
	CodeFullHoldout          = "full-holdout"           // warning: holdout 100% on a rule that sends
	CodeBadHoldout           = "bad-holdout"            // a holdout outside 0-100%
	CodeBadStopAfter         = "bad-stop-after"         // `stop after N unanswered` with N < 1 or fractional
	CodeBadBrand             = "bad-brand"              // an empty brand name
	CodeDuplicateBrand       = "duplicate-brand"        // brand declared twice in one file
	CodeConflictingBrand     = "conflicting-brand"      // files declare different brands
	CodeModuleBrand          = "module-brand"           // a module declares a brand
	CodeModuleRule           = "module-rule"            // a module declares a rule
	CodeDuplicateEvent       = "duplicate-event"        // an event type declared twice
	CodeDuplicateField       = "duplicate-field"        // a field declared twice or redeclaring a built-in column
	CodeDuplicateSegment     = "duplicate-segment"      // a segment declared twice
	CodeDuplicateRule        = "duplicate-rule"         // a rule declared twice
	CodeDuplicateOption      = "duplicate-option"       // a rule option given twice
	CodeNameConflict         = "name-conflict"          // a segment has the name of an event type
	CodeSegmentCycle         = "segment-cycle"          // segments refer to each other in a cycle
	CodeSegmentFilter        = "segment-filter"         // a segment name used with filters, a quantifier or a window
	CodeNeverFires           = "never-fires"            // different trigger events joined by `and`
	CodeNegatedTrigger       = "negated-trigger"        // a trigger atom under `not`
	CodeMixedTrigger         = "mixed-trigger"          // `or` with a trigger on one side and only state on the other
	CodeNestedTrigger        = "nested-trigger"         // a trigger atom inside a filter, aggregate or function
	CodeBeforeWithoutTrigger = "before-without-trigger" // a `before` window in a rule without a trigger event
	CodeUnreachable          = "unreachable"            // warning: `between` bounds in the wrong order
	CodeEmptyTag             = "empty-tag"              // an empty tag name in `tagged`
	CodeEmptyValue           = "empty-value"            // an empty tag, content id or sink name in an action
	CodeEmptyQuietHours      = "empty-quiet-hours"      // warning: quiet hours from a time to the same time
	CodeAlwaysTrue           = "always-true"            // warning: `at least 0 times`, which every member meets
	CodeTagAndUntag          = "tag-and-untag"          // warning: one rule tags and untags the same tag (the untag wins)

	// Delivery policies (SPEC §9, delivery.go).
	CodeDuplicateChannel   = "duplicate-channel"   // a fallback names one channel twice
	CodeUnknownParam       = "unknown-param"       // a `with` value names no field of the trigger events, or no member field
	CodeParamEventField    = "param-event-field"   // a `with` value reads an event field in a state rule (no triggering event)
	CodeDuplicateParam     = "duplicate-param"     // a `with` names one parameter twice
	CodeTransactionalPromo = "transactional-promo" // warning: a transactional rule sends a coupon, voucher or cashback

	// Limits: what nudge, DuckDB and the machine can take (limits.go; the
	// loader in package lang reports the file limits).
	CodeNULCharacter    = "nul-character"     // a text holds the NUL character (\u0000), which no query can hold
	CodeNumberTooLarge  = "number-too-large"  // a number with more than 15 digits before or after the decimal point
	CodeDurationTooLong = "duration-too-long" // a duration longer than 100 years
	CodeTooDeep         = "too-deep"          // a condition nested deeper than MaxDepth (or a file's text deeper than lang.MaxNesting)
	CodeTooLarge        = "too-large"         // a condition larger than MaxSize with its segments inlined, or a journey of more than MaxJourneySteps steps
	CodeFileTooLarge    = "file-too-large"    // a rule file larger than 1 MiB
	CodeNotRegularFile  = "not-regular-file"  // a path that is a named pipe, device, socket or directory (a warning when found in a directory: skipped)
)
