// Package render prints a computed report in each of its formats: text
// for people (text.go), JSON (schema rollcheck.report/v1), JUnit XML for
// CI, a self-contained HTML page and OpenMetrics. Every renderer is a
// Func over the one report.Report that report.Build computed: none of them
// weighs, counts or judges anything.
package render
