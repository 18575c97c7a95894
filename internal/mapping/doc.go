// Package mapping turns one RetailCRM order, exactly as RetailCRM sent it,
// into the tracker's order fields. Each field is an expression in the
// language of github.com/expr-lang/expr evaluated over the order, and each
// result is normalised (dates to UTC, phones to digits, exact decimals,
// clean text and tags). Problems become Issues naming the order, the
// field, the value and the reason, a message code with arguments whose words
// are in the catalogues of package locale; an order missing a required field
// is rejected. Field titles and the sources offered for them are catalogue
// keys too. Only the diagnostics of expressions (expr's compile errors, the
// runtime errors of the functions below) are English text, shown verbatim
// as a message's detail, like a compiler's output.
//
// # The language as a mapping sees it
//
// The order is the environment: `number`, `customFields.k50_sid`,
// `customer.externalId`, `items[0].offer.name`, `payments["4326"].amount`;
// `$env` is the whole order. A missing field is nil, and so is any path
// through it (`delivery.netCost` on an order without delivery), an index
// out of range (`customer.phones[0].number` without phones), and a field
// of PHP's empty `[]` (`customFields.k50_sid` when customFields is `[]`).
//
// Numbers are exact decimals: `totalSumm - purchaseSumm` on 1395.16 and
// 1000.5 is 394.66. + - * / % ** and comparisons work on them; `/` keeps 16
// decimal places; `**` takes whole exponents. Arithmetic with a missing
// operand gives nil (write `x ?? 0` to count it as 0); text + nil is the
// text. A comparison with nil is false, == compares numbers by value
// (1 == 1.0) and lists and objects by content.
//
// Conditions (and, or, not, ?:, if, and the predicates of filter, all,
// any, none, one, count, find…) treat nil as false; other non-boolean
// values are errors.
//
// Functions: the loops of expr (map, filter, reduce, sum, count, all, any,
// none, one, find, findIndex, findLast, findLastIndex, sortBy, groupBy) with
// decimal-aware sum, sortBy and groupBy; abs, ceil, floor, round(x[, places])
// (half away from zero), int (truncates), float (exact decimal, parses text
// like ParseDecimal), string, len (characters of text), max, min, mean,
// median, keys, values, toPairs (in key order), uniq, sort, get, type,
// fromJSON (exact decimals), join, joinWords(a, b, …) (non-empty values,
// trimmed, one space between), split, splitAfter, replace, repeat, trim,
// trimPrefix, trimSuffix, upper, lower, indexOf, lastIndexOf (in
// characters), hasPrefix, hasSuffix, date(x[, layout[, zone]]) and now()
// (in the RetailCRM account's zone), duration, first, last, take, reverse,
// concat, flatten, fromPairs; methods of dates and durations
// (`date(createdAt).Year()`). Text functions give nil for nil.
// toJSON, toBase64, fromBase64 and timezone are not available.
//
// # Limits
//
// An expression has at most 4000 characters and 500 syntax nodes. One
// evaluation may take 100,000 steps (a step is a function call or loop
// iteration, large text and lists cost more), build lists, maps and ranges
// of 100,000 elements in all, text of 1 MiB and numbers of 100 digits;
// beyond that it stops with an issue. The costliest hostile expressions in
// the tests stop within about a tenth of a second.
package mapping
