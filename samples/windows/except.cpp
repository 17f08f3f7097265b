/*
 * except: C++ exceptions as the Windows runtime delivers them.
 *
 * On x64 MinGW throws through the operating system's table-based exception
 * handling: RaiseException, a first pass over the .pdata/.xdata unwind
 * information calling each frame's language handler, then RtlUnwindEx
 * running the destructors frame by frame (RAII output shows their order).
 * Covers std::exception::what(), a user type rethrown with `throw;`,
 * catch(...), an exception thrown from a catch block, an exception from
 * libstdc++ itself, and many throws in a loop. "except uncaught" lets one
 * escape: std::terminate prints its message and abort() ends the run.
 */
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

struct Guard {
    const char *name;
    explicit Guard(const char *n) : name(n) { std::printf("enter %s\n", name); }
    ~Guard() { std::printf("leave %s\n", name); }
};

struct Custom {
    int code;
};

__attribute__((noinline)) static void level3(int mode)
{
    Guard g("level3");
    if (mode == 0)
        throw std::runtime_error("disk on fire");
    if (mode == 1)
        throw Custom{42};
    if (mode == 2)
        throw 7;
    std::printf("level3 returns\n");
}

__attribute__((noinline)) static void level2(int mode)
{
    Guard g("level2");
    level3(mode);
    std::printf("back in level2\n");
}

__attribute__((noinline)) static void level1(int mode)
{
    Guard g("level1");
    try {
        level2(mode);
    } catch (const Custom &c) {
        std::printf("level1 caught Custom %d, rethrowing\n", c.code);
        throw;
    }
}

__attribute__((noinline)) static int thrower(int i)
{
    if (i >= 0)
        throw i;
    return i;
}

int main(int argc, char **argv)
{
    if (argc > 1 && std::strcmp(argv[1], "uncaught") == 0) {
        Guard g("main");
        std::fflush(stdout); // abort() ends the process without flushing stdio
        throw std::runtime_error("nobody catches this");
    }
    for (int mode = 0; mode < 4; ++mode) {
        try {
            level1(mode);
            std::printf("mode %d: no exception\n", mode);
        } catch (const std::exception &e) {
            std::printf("mode %d: std::exception what(): %s\n", mode, e.what());
        } catch (const Custom &c) {
            std::printf("mode %d: Custom %d after rethrow\n", mode, c.code);
        } catch (...) {
            std::printf("mode %d: catch(...)\n", mode);
        }
    }
    try {
        try {
            throw std::logic_error("inner");
        } catch (const std::exception &e) {
            std::printf("caught %s, throwing another\n", e.what());
            throw std::out_of_range("outer");
        }
    } catch (const std::out_of_range &e) {
        std::printf("caught %s\n", e.what());
    }
    std::string text = "abc";
    try {
        text.at(10);
    } catch (const std::out_of_range &e) {
        std::printf("string::at: %s\n", e.what());
    }
    int sum = 0;
    for (int i = 0; i < 100; ++i) {
        try {
            sum += thrower(i);
        } catch (int v) {
            sum += v;
        }
    }
    std::printf("caught 100 ints, sum %d\n", sum);
    std::printf("done\n");
    return 0;
}
