// Default options of the sanitizers for the suites the asan, ubsan and tsan presets
// run, compiled into those test programs so they apply however the tests are
// started (ctest, test discovery at build time, by hand). Empty in builds
// without sanitizers.
//
// Suppressed: only races reported inside libtorch and the libraries it uses,
// which are not instrumented (they synchronise with atomics the thread
// sanitizer cannot see). Nothing of fairseq2's own code is suppressed, and
// leak detection runs with no suppressions at all.

#if defined(__SANITIZE_ADDRESS__)

extern "C" const char* __asan_default_options()
{
    return "strict_init_order=1:check_initialization_order=1:detect_stack_use_after_return=1";
}

#endif

#if defined(FAIRSEQ2_UBSAN)

extern "C" const char* __ubsan_default_options()
{
    return "print_stacktrace=1:halt_on_error=1";
}

#endif

#if defined(__SANITIZE_THREAD__)

extern "C" const char* __tsan_default_options()
{
    return "halt_on_error=1:second_deadlock_stack=1";
}

extern "C" const char* __tsan_default_suppressions()
{
    return "";
}

#endif
