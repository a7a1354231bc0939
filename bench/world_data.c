/* world_data.c - the catalogue the synthetic world is built from: binaries
 * and their real-looking symbols, the services of a typical Kubernetes node,
 * how their stacks start, and word lists for generated symbol names.
 *
 * Only data lives here; world.c interprets it. Paths and symbols are modelled
 * on what the OpenTelemetry eBPF profiler reports from a Debian/Ubuntu node
 * running nginx, envoy, databases, Go and Java services and a Python app. */
#include "world.h"

#define END {NULL, NULL}

/* ---- fixed symbols ------------------------------------------------------- */

/* The kernel: [0..1] start every syscall tail and [2..5] every page-fault
 * tail (world.c relies on this order); the rest is the pool. */
static const wl_sym_t kernel_syms[] = {
    {"entry_SYSCALL_64_after_hwframe", "arch/x86/entry/entry_64.S"},
    {"do_syscall_64", "arch/x86/entry/common.c"},
    {"asm_exc_page_fault", "arch/x86/include/asm/idtentry.h"},
    {"exc_page_fault", "arch/x86/mm/fault.c"},
    {"do_user_addr_fault", "arch/x86/mm/fault.c"},
    {"handle_mm_fault", "mm/memory.c"},
    {"__handle_mm_fault", "mm/memory.c"},
    {"do_anonymous_page", "mm/memory.c"},
    {"clear_page_erms", "arch/x86/lib/clear_page_64.S"},
    {"__x64_sys_epoll_wait", "fs/eventpoll.c"},
    {"do_epoll_wait", "fs/eventpoll.c"},
    {"ep_poll", "fs/eventpoll.c"},
    {"schedule_hrtimeout_range_clock", "kernel/time/hrtimer.c"},
    {"schedule", "kernel/sched/core.c"},
    {"__schedule", "kernel/sched/core.c"},
    {"finish_task_switch.isra.0", "kernel/sched/core.c"},
    {"__x64_sys_read", "fs/read_write.c"},
    {"ksys_read", "fs/read_write.c"},
    {"vfs_read", "fs/read_write.c"},
    {"sock_read_iter", "net/socket.c"},
    {"sock_recvmsg", "net/socket.c"},
    {"inet_recvmsg", "net/ipv4/af_inet.c"},
    {"tcp_recvmsg", "net/ipv4/tcp.c"},
    {"tcp_recvmsg_locked", "net/ipv4/tcp.c"},
    {"skb_copy_datagram_iter", "net/core/datagram.c"},
    {"_copy_to_iter", "lib/iov_iter.c"},
    {"copy_user_enhanced_fast_string", "arch/x86/lib/copy_user_64.S"},
    {"__x64_sys_write", "fs/read_write.c"},
    {"ksys_write", "fs/read_write.c"},
    {"vfs_write", "fs/read_write.c"},
    {"sock_write_iter", "net/socket.c"},
    {"sock_sendmsg", "net/socket.c"},
    {"tcp_sendmsg", "net/ipv4/tcp.c"},
    {"tcp_sendmsg_locked", "net/ipv4/tcp.c"},
    {"__tcp_push_pending_frames", "net/ipv4/tcp_output.c"},
    {"tcp_write_xmit", "net/ipv4/tcp_output.c"},
    {"__tcp_transmit_skb", "net/ipv4/tcp_output.c"},
    {"__ip_queue_xmit", "net/ipv4/ip_output.c"},
    {"ip_finish_output2", "net/ipv4/ip_output.c"},
    {"__dev_queue_xmit", "net/core/dev.c"},
    {"dev_hard_start_xmit", "net/core/dev.c"},
    {"__x64_sys_futex", "kernel/futex/syscalls.c"},
    {"do_futex", "kernel/futex/syscalls.c"},
    {"futex_wait", "kernel/futex/waitwake.c"},
    {"futex_wake", "kernel/futex/waitwake.c"},
    {"__x64_sys_sendto", "net/socket.c"},
    {"__sys_sendto", "net/socket.c"},
    {"__x64_sys_recvfrom", "net/socket.c"},
    {"__sys_recvfrom", "net/socket.c"},
    {"__x64_sys_openat", "fs/open.c"},
    {"do_sys_openat2", "fs/open.c"},
    {"do_filp_open", "fs/namei.c"},
    {"path_openat", "fs/namei.c"},
    {"link_path_walk.part.0.constprop.0", "fs/namei.c"},
    {"ksys_mmap_pgoff", "mm/mmap.c"},
    {"vm_mmap_pgoff", "mm/util.c"},
    {"do_mmap", "mm/mmap.c"},
    {"mmap_region", "mm/mmap.c"},
    {"ext4_sync_file", "fs/ext4/fsync.c"},
    {"jbd2_complete_transaction", "fs/jbd2/journal.c"},
    {"__x64_sys_nanosleep", "kernel/time/hrtimer.c"},
    {"hrtimer_nanosleep", "kernel/time/hrtimer.c"},
    {"do_nanosleep", "kernel/time/hrtimer.c"},
    {"__x64_sys_sched_yield", "kernel/sched/core.c"},
    {"do_sched_yield", "kernel/sched/core.c"},
    {"irq_exit_rcu", "kernel/softirq.c"},
    {"__do_softirq", "kernel/softirq.c"},
    {"net_rx_action", "net/core/dev.c"},
    {"__napi_poll", "net/core/dev.c"},
    {"tcp_v4_rcv", "net/ipv4/tcp_ipv4.c"},
    {"tcp_v4_do_rcv", "net/ipv4/tcp_ipv4.c"},
    {"tcp_rcv_established", "net/ipv4/tcp_input.c"},
    {"__alloc_pages", "mm/page_alloc.c"},
    {"get_page_from_freelist", "mm/page_alloc.c"},
    {"kmem_cache_alloc_node", "mm/slub.c"},
    {"__kmalloc_node_track_caller", "mm/slab_common.c"},
    {"__alloc_skb", "net/core/skbuff.c"},
    {"memcg_slab_post_alloc_hook", "mm/memcontrol.c"},
    END};

/* glibc 2.36; the roots come first only for readability. */
static const wl_sym_t libc_syms[] = {
    {"__libc_start_main_impl", "./csu/../csu/libc-start.c"},
    {"__libc_start_call_main", "./csu/../sysdeps/nptl/libc_start_call_main.h"},
    {"start_thread", "./nptl/pthread_create.c"},
    {"clone3", "./misc/../sysdeps/unix/sysv/linux/x86_64/clone3.S"},
    {"__GI___libc_malloc", "./malloc/malloc.c"},
    {"_int_malloc", "./malloc/malloc.c"},
    {"_int_free", "./malloc/malloc.c"},
    {"__GI___libc_free", "./malloc/malloc.c"},
    {"__GI___libc_realloc", "./malloc/malloc.c"},
    {"_int_realloc", "./malloc/malloc.c"},
    {"__libc_calloc", "./malloc/malloc.c"},
    {"malloc_consolidate", "./malloc/malloc.c"},
    {"unlink_chunk.constprop.0", "./malloc/malloc.c"},
    {"sysmalloc", "./malloc/malloc.c"},
    {"__memmove_avx_unaligned_erms",
     "../sysdeps/x86_64/multiarch/memmove-vec-unaligned-erms.S"},
    {"__memset_avx2_unaligned_erms",
     "../sysdeps/x86_64/multiarch/memset-vec-unaligned-erms.S"},
    {"__memcmp_avx2_movbe", "../sysdeps/x86_64/multiarch/memcmp-avx2-movbe.S"},
    {"__strlen_avx2", "../sysdeps/x86_64/multiarch/strlen-avx2.S"},
    {"__strchr_avx2", "../sysdeps/x86_64/multiarch/strchr-avx2.S"},
    {"__strcmp_avx2", "../sysdeps/x86_64/multiarch/strcmp-avx2.S"},
    {"epoll_wait", "../sysdeps/unix/sysv/linux/epoll_wait.c"},
    {"__libc_recv", "../sysdeps/unix/sysv/linux/recv.c"},
    {"__libc_send", "../sysdeps/unix/sysv/linux/send.c"},
    {"__libc_read", "../sysdeps/unix/sysv/linux/read.c"},
    {"__libc_write", "../sysdeps/unix/sysv/linux/write.c"},
    {"__GI___poll", "../sysdeps/unix/sysv/linux/poll.c"},
    {"__libc_sendmsg", "../sysdeps/unix/sysv/linux/sendmsg.c"},
    {"__libc_recvmsg", "../sysdeps/unix/sysv/linux/recvmsg.c"},
    {"__writev", "../sysdeps/unix/sysv/linux/writev.c"},
    {"__libc_pread64", "../sysdeps/unix/sysv/linux/pread64.c"},
    {"__libc_pwrite64", "../sysdeps/unix/sysv/linux/pwrite64.c"},
    {"fdatasync", "../sysdeps/unix/sysv/linux/fdatasync.c"},
    {"__libc_open64", "../sysdeps/unix/sysv/linux/open64.c"},
    {"accept4", "../sysdeps/unix/sysv/linux/accept4.c"},
    {"__futex_abstimed_wait_common", "./nptl/futex-internal.c"},
    {"__lll_lock_wait", "./nptl/lowlevellock.c"},
    {"___pthread_mutex_lock", "./nptl/pthread_mutex_lock.c"},
    {"__pthread_mutex_unlock_usercnt", "./nptl/pthread_mutex_unlock.c"},
    {"___pthread_cond_wait", "./nptl/pthread_cond_wait.c"},
    {"___pthread_cond_signal", "./nptl/pthread_cond_signal.c"},
    {"__GI___clock_gettime", "../sysdeps/unix/sysv/linux/clock_gettime.c"},
    {"__GI___clock_nanosleep", "../sysdeps/unix/sysv/linux/clock_nanosleep.c"},
    {"sched_yield", "../sysdeps/unix/syscall-template.S"},
    {"__vfprintf_internal", "./stdio-common/vfprintf-internal.c"},
    {"_IO_new_file_xsputn", "./libio/fileops.c"},
    {"__GI__IO_fwrite", "./libio/iofwrite.c"},
    {"___snprintf_chk", "./debug/snprintf_chk.c"},
    {"msort_with_tmp.part.0", "./stdlib/msort.c"},
    {"__GI_____strtol_l_internal", "../stdlib/strtol_l.c"},
    {"__GI_getaddrinfo", "../sysdeps/posix/getaddrinfo.c"},
    {"__tz_convert", "./time/tzset.c"},
    {"__mmap", "../sysdeps/unix/sysv/linux/mmap64.c"},
    {"__munmap", "../sysdeps/unix/syscall-template.S"},
    {"__madvise", "../sysdeps/unix/syscall-template.S"},
    END};

static const wl_sym_t ld_syms[] = {
    {"_dl_runtime_resolve_xsavec", "../sysdeps/x86_64/dl-trampoline.h"},
    {"_dl_fixup", "./elf/dl-runtime.c"},
    {"_dl_lookup_symbol_x", "./elf/dl-lookup.c"},
    {"do_lookup_x", "./elf/dl-lookup.c"},
    {"check_match", "./elf/dl-lookup.c"},
    {"__tls_get_addr", "../sysdeps/x86_64/tls_get_addr.S"},
    {"update_get_addr", "./elf/dl-tls.c"},
    END};

static const wl_sym_t stdcxx_syms[] = {
    {"operator new(unsigned long)", "../../../../libstdc++-v3/libsupc++/new_op.cc"},
    {"operator delete(void*, unsigned long)",
     "../../../../libstdc++-v3/libsupc++/del_ops.cc"},
    {"std::_Hash_bytes(void const*, unsigned long, unsigned long)",
     "../../../../libstdc++-v3/libsupc++/hash_bytes.cc"},
    {"std::__cxx11::basic_string<char, std::char_traits<char>, "
     "std::allocator<char> >::_M_mutate(unsigned long, unsigned long, char "
     "const*, unsigned long)",
     "/usr/include/c++/12/bits/basic_string.tcc"},
    {"std::__cxx11::basic_string<char, std::char_traits<char>, "
     "std::allocator<char> >::_M_replace(unsigned long, unsigned long, char "
     "const*, unsigned long)",
     "/usr/include/c++/12/bits/basic_string.tcc"},
    {"std::__cxx11::basic_string<char, std::char_traits<char>, "
     "std::allocator<char> >::reserve(unsigned long)",
     "/usr/include/c++/12/bits/basic_string.tcc"},
    {"std::_Rb_tree_increment(std::_Rb_tree_node_base*)",
     "../../../../../libstdc++-v3/src/c++98/tree.cc"},
    {"std::_Rb_tree_insert_and_rebalance(bool, std::_Rb_tree_node_base*, "
     "std::_Rb_tree_node_base*, std::_Rb_tree_node_base&)",
     "../../../../../libstdc++-v3/src/c++98/tree.cc"},
    {"std::__detail::_Prime_rehash_policy::_M_need_rehash(unsigned long, "
     "unsigned long, unsigned long) const",
     "../../../../../libstdc++-v3/src/c++11/hashtable_c++0x.cc"},
    {"std::condition_variable::wait(std::unique_lock<std::mutex>&)",
     "../../../../../libstdc++-v3/src/c++11/condition_variable.cc"},
    {"std::locale::locale()", "../../../../../libstdc++-v3/src/c++98/locale_init.cc"},
    {"std::ostream::sentry::sentry(std::ostream&)",
     "/usr/include/c++/12/bits/ostream.tcc"},
    {"__cxa_throw", "../../../../libstdc++-v3/libsupc++/eh_throw.cc"},
    {"__gxx_personality_v0", "../../../../libstdc++-v3/libsupc++/eh_personality.cc"},
    END};

static const wl_sym_t gcc_s_syms[] = {
    {"_Unwind_RaiseException", "../../../src/libgcc/unwind.inc"},
    {"_Unwind_Find_FDE", "../../../src/libgcc/unwind-dw2-fde-dip.c"},
    {"uw_frame_state_for", "../../../src/libgcc/unwind-dw2.c"},
    {"execute_cfa_program", "../../../src/libgcc/unwind-dw2.c"},
    {"uw_update_context_1", "../../../src/libgcc/unwind-dw2.c"},
    END};

static const wl_sym_t ssl_syms[] = {
    {"SSL_read", "ssl/ssl_lib.c"},
    {"SSL_write", "ssl/ssl_lib.c"},
    {"ssl3_read_bytes", "ssl/record/rec_layer_s3.c"},
    {"ssl3_write_bytes", "ssl/record/rec_layer_s3.c"},
    {"tls_get_more_records", "ssl/record/methods/tls_common.c"},
    {"tls13_enc", "ssl/record/methods/tls13_meth.c"},
    {"ossl_statem_accept", "ssl/statem/statem.c"},
    END};

static const wl_sym_t crypto_syms[] = {
    {"EVP_DecryptUpdate", "crypto/evp/evp_enc.c"},
    {"EVP_EncryptUpdate", "crypto/evp/evp_enc.c"},
    {"aesni_gcm_decrypt", "crypto/modes/aesni-gcm-x86_64.s"},
    {"aesni_gcm_encrypt", "crypto/modes/aesni-gcm-x86_64.s"},
    {"gcm_ghash_avx", "crypto/modes/ghash-x86_64.s"},
    {"sha256_block_data_order_avx2", "crypto/sha/sha256-x86_64.s"},
    {"bn_mul_mont", "crypto/bn/x86_64-mont.s"},
    {"ecp_nistz256_point_double", "crypto/ec/ecp_nistz256-x86_64.s"},
    {"CRYPTO_zalloc", "crypto/mem.c"},
    {"ERR_clear_error", "crypto/err/err.c"},
    END};

static const wl_sym_t z_syms[] = {
    {"inflate", "./inflate.c"},
    {"inflate_fast", "./inffast.c"},
    {"deflate", "./deflate.c"},
    {"deflate_slow", "./deflate.c"},
    {"longest_match", "./deflate.c"},
    {"fill_window", "./deflate.c"},
    {"compress_block", "./trees.c"},
    {"adler32_z", "./adler32.c"},
    {"crc32_z", "./crc32.c"},
    END};

static const wl_sym_t jvm_syms[] = {
    {"thread_native_entry(Thread*)", "src/hotspot/os/linux/os_linux.cpp"},
    {"Thread::call_run()", "src/hotspot/share/runtime/thread.cpp"},
    {"JavaThread::thread_main_inner()", "src/hotspot/share/runtime/javaThread.cpp"},
    {"JavaThread::run()", "src/hotspot/share/runtime/javaThread.cpp"},
    {"thread_entry(JavaThread*, JavaThread*)",
     "src/hotspot/share/prims/jvm.cpp"},
    {"JavaCalls::call_virtual(JavaValue*, Handle, Klass*, Symbol*, Symbol*, "
     "JavaThread*)",
     "src/hotspot/share/runtime/javaCalls.cpp"},
    {"JavaCalls::call_helper(JavaValue*, methodHandle const&, "
     "JavaCallArguments*, JavaThread*)",
     "src/hotspot/share/runtime/javaCalls.cpp"},
    {"WorkerThread::run()", "src/hotspot/share/gc/shared/workerThread.cpp"},
    {"G1EvacuateRegionsTask::work(unsigned int)",
     "src/hotspot/share/gc/g1/g1YoungCollector.cpp"},
    {"CompileBroker::compiler_thread_loop()",
     "src/hotspot/share/compiler/compileBroker.cpp"},
    {"CompileBroker::invoke_compiler_on_method(CompileTask*)",
     "src/hotspot/share/compiler/compileBroker.cpp"},
    {"C2Compiler::compile_method(ciEnv*, ciMethod*, int, bool, DirectiveSet*)",
     "src/hotspot/share/opto/c2compiler.cpp"},
    {"Compile::Compile(ciEnv*, ciMethod*, int, Options, DirectiveSet*)",
     "src/hotspot/share/opto/compile.cpp"},
    {"MemAllocator::allocate() const", "src/hotspot/share/gc/shared/memAllocator.cpp"},
    {"OptoRuntime::new_array_C(Klass*, int, JavaThread*)",
     "src/hotspot/share/opto/runtime.cpp"},
    {"InstanceKlass::allocate_instance(JavaThread*)",
     "src/hotspot/share/oops/instanceKlass.cpp"},
    {"ObjectMonitor::enter(JavaThread*)", "src/hotspot/share/runtime/objectMonitor.cpp"},
    {"Parker::park(bool, long)", "src/hotspot/os/posix/os_posix.cpp"},
    {"SafepointSynchronize::block(JavaThread*)",
     "src/hotspot/share/runtime/safepoint.cpp"},
    {"G1ParScanThreadState::trim_queue_partially()",
     "src/hotspot/share/gc/g1/g1ParScanThreadState.cpp"},
    {"PhaseIdealLoop::build_and_optimize()", "src/hotspot/share/opto/loopnode.cpp"},
    {"PhaseChaitin::Register_Allocate()", "src/hotspot/share/opto/chaitin.cpp"},
    {"Parse::do_one_bytecode()", "src/hotspot/share/opto/parse2.cpp"},
    END};

static const wl_sym_t jdk_syms[] = {
    {"java.lang.Thread.run", "Thread.java"},
    {"java.util.concurrent.ThreadPoolExecutor$Worker.run", "ThreadPoolExecutor.java"},
    {"java.util.concurrent.ThreadPoolExecutor.runWorker", "ThreadPoolExecutor.java"},
    {"java.util.HashMap.getNode", "HashMap.java"},
    {"java.util.HashMap.putVal", "HashMap.java"},
    {"java.lang.String.hashCode", "String.java"},
    {"java.lang.StringLatin1.indexOf", "StringLatin1.java"},
    {"java.util.ArrayList.grow", "ArrayList.java"},
    {"java.util.Arrays.copyOf", "Arrays.java"},
    {"jdk.internal.misc.Unsafe.park", "Unsafe.java"},
    {"java.util.concurrent.locks.LockSupport.park", "LockSupport.java"},
    {"java.util.concurrent.LinkedBlockingQueue.take", "LinkedBlockingQueue.java"},
    {"sun.nio.ch.EPoll.wait", "EPoll.java"},
    {"sun.nio.ch.EPollSelectorImpl.doSelect", "EPollSelectorImpl.java"},
    {"sun.nio.ch.SelectorImpl.lockAndDoSelect", "SelectorImpl.java"},
    {"sun.nio.ch.SocketChannelImpl.read", "SocketChannelImpl.java"},
    {"sun.nio.ch.IOUtil.read", "IOUtil.java"},
    {"sun.nio.ch.FileDispatcherImpl.write0", "FileDispatcherImpl.java"},
    {"java.io.FileOutputStream.writeBytes", "FileOutputStream.java"},
    {"java.util.stream.ReferencePipeline$3$1.accept", "ReferencePipeline.java"},
    END};

static const wl_sym_t python_syms[] = {
    {"_start", ""},
    {"main", "./Programs/python.c"},
    {"Py_BytesMain", "./Modules/main.c"},
    {"Py_RunMain", "./Modules/main.c"},
    {"pymain_run_python.constprop.0", "./Modules/main.c"},
    {"_PyRun_AnyFileObject", "./Python/pythonrun.c"},
    {"_PyRun_SimpleFileObject", "./Python/pythonrun.c"},
    {"run_mod", "./Python/pythonrun.c"},
    {"run_eval_code_obj", "./Python/pythonrun.c"},
    {"PyEval_EvalCode", "./Python/ceval.c"},
    {"thread_run", "./Modules/_threadmodule.c"},
    {"_PyObject_Call", "./Objects/call.c"},
    {"_PyObject_Malloc", "./Objects/obmalloc.c"},
    {"_PyObject_Free", "./Objects/obmalloc.c"},
    {"dict_subscript", "./Objects/dictobject.c"},
    {"unicodekeys_lookup_unicode", "./Objects/dictobject.c"},
    {"list_append", "./Objects/listobject.c"},
    {"PyUnicode_New", "./Objects/unicodeobject.c"},
    {"_PyFunction_Vectorcall", "./Objects/call.c"},
    {"sock_recv_impl", "./Modules/socketmodule.c"},
    {"sock_call_ex", "./Modules/socketmodule.c"},
    {"select_epoll_poll_impl", "./Modules/selectmodule.c"},
    {"gc_collect_main", "./Modules/gcmodule.c"},
    {"PyThread_acquire_lock_timed", "./Python/thread_pthread.h"},
    {"take_gil", "./Python/ceval_gil.c"},
    END};

static const wl_sym_t pystd_syms[] = {
    {"Thread._bootstrap", "/usr/lib/python3.11/threading.py"},
    {"Thread._bootstrap_inner", "/usr/lib/python3.11/threading.py"},
    {"Thread.run", "/usr/lib/python3.11/threading.py"},
    {"<module>", "/app/recommendation/server.py"},
    {"BaseServer.serve_forever", "/usr/lib/python3.11/socketserver.py"},
    {"EpollSelector.select", "/usr/lib/python3.11/selectors.py"},
    {"loads", "/usr/lib/python3.11/json/__init__.py"},
    {"JSONDecoder.decode", "/usr/lib/python3.11/json/decoder.py"},
    {"JSONDecoder.raw_decode", "/usr/lib/python3.11/json/decoder.py"},
    {"dumps", "/usr/lib/python3.11/json/__init__.py"},
    {"JSONEncoder.encode", "/usr/lib/python3.11/json/encoder.py"},
    {"SocketIO.readinto", "/usr/lib/python3.11/socket.py"},
    {"BaseEventLoop.run_forever", "/usr/lib/python3.11/asyncio/base_events.py"},
    {"BaseEventLoop._run_once", "/usr/lib/python3.11/asyncio/base_events.py"},
    {"Handle._run", "/usr/lib/python3.11/asyncio/events.py"},
    {"Logger._log", "/usr/lib/python3.11/logging/__init__.py"},
    {"StreamHandler.emit", "/usr/lib/python3.11/logging/__init__.py"},
    {"deepcopy", "/usr/lib/python3.11/copy.py"},
    {"_deepcopy_dict", "/usr/lib/python3.11/copy.py"},
    END};

static const wl_sym_t exe_c_syms[] = {
    {"_start", ""},
    {"main", "main.c"},
    END};

/* The Go runtime, shared by every Go executable (same toolchain). */
const wl_sym_t wl_go_runtime[] = {
    {"runtime.goexit", "/usr/local/go/src/runtime/asm_amd64.s"},
    {"runtime.main", "/usr/local/go/src/runtime/proc.go"},
    {"runtime.mstart", "/usr/local/go/src/runtime/asm_amd64.s"},
    {"runtime.mstart0", "/usr/local/go/src/runtime/proc.go"},
    {"runtime.mstart1", "/usr/local/go/src/runtime/proc.go"},
    {"runtime.schedule", "/usr/local/go/src/runtime/proc.go"},
    {"runtime.findRunnable", "/usr/local/go/src/runtime/proc.go"},
    {"runtime.gcBgMarkWorker", "/usr/local/go/src/runtime/mgc.go"},
    {"runtime.systemstack", "/usr/local/go/src/runtime/asm_amd64.s"},
    {"runtime.gcBgMarkWorker.func2", "/usr/local/go/src/runtime/mgc.go"},
    {"runtime.gcDrain", "/usr/local/go/src/runtime/mgcmark.go"},
    {"runtime.scanobject", "/usr/local/go/src/runtime/mgcmark.go"},
    {"runtime.greyobject", "/usr/local/go/src/runtime/mgcmark.go"},
    {"runtime.findObject", "/usr/local/go/src/runtime/mbitmap.go"},
    {"runtime.mallocgc", "/usr/local/go/src/runtime/malloc.go"},
    {"runtime.memmove", "/usr/local/go/src/runtime/memmove_amd64.s"},
    {"runtime.memclrNoHeapPointers", "/usr/local/go/src/runtime/memclr_amd64.s"},
    {"runtime.newobject", "/usr/local/go/src/runtime/malloc.go"},
    {"runtime.makeslice", "/usr/local/go/src/runtime/slice.go"},
    {"runtime.growslice", "/usr/local/go/src/runtime/slice.go"},
    {"runtime.mapaccess2_faststr", "/usr/local/go/src/runtime/map_faststr.go"},
    {"runtime.mapassign_faststr", "/usr/local/go/src/runtime/map_faststr.go"},
    {"runtime.mapaccess1", "/usr/local/go/src/runtime/map.go"},
    {"runtime.futex", "/usr/local/go/src/runtime/sys_linux_amd64.s"},
    {"runtime.futexsleep", "/usr/local/go/src/runtime/os_linux.go"},
    {"runtime.futexwakeup", "/usr/local/go/src/runtime/os_linux.go"},
    {"runtime.notesleep", "/usr/local/go/src/runtime/lock_futex.go"},
    {"runtime.stopm", "/usr/local/go/src/runtime/proc.go"},
    {"runtime.park_m", "/usr/local/go/src/runtime/proc.go"},
    {"runtime.mcall", "/usr/local/go/src/runtime/asm_amd64.s"},
    {"runtime.gopark", "/usr/local/go/src/runtime/proc.go"},
    {"runtime.netpoll", "/usr/local/go/src/runtime/netpoll_epoll.go"},
    {"runtime.epollwait", "/usr/local/go/src/runtime/sys_linux_amd64.s"},
    {"runtime.usleep", "/usr/local/go/src/runtime/sys_linux_amd64.s"},
    {"runtime.nanotime1", "/usr/local/go/src/runtime/sys_linux_amd64.s"},
    {"runtime.selectgo", "/usr/local/go/src/runtime/select.go"},
    {"runtime.chansend", "/usr/local/go/src/runtime/chan.go"},
    {"runtime.chanrecv", "/usr/local/go/src/runtime/chan.go"},
    {"runtime.lock2", "/usr/local/go/src/runtime/lock_futex.go"},
    {"runtime.unlock2", "/usr/local/go/src/runtime/lock_futex.go"},
    {"runtime.concatstrings", "/usr/local/go/src/runtime/string.go"},
    {"runtime.slicebytetostring", "/usr/local/go/src/runtime/string.go"},
    {"runtime.assertE2I2", "/usr/local/go/src/runtime/iface.go"},
    {"runtime.aeshashbody", "/usr/local/go/src/runtime/asm_amd64.s"},
    {"runtime.(*mheap).alloc", "/usr/local/go/src/runtime/mheap.go"},
    {"runtime.(*mcache).refill", "/usr/local/go/src/runtime/mcache.go"},
    {"runtime.(*mcentral).cacheSpan", "/usr/local/go/src/runtime/mcentral.go"},
    {"runtime.gcAssistAlloc", "/usr/local/go/src/runtime/mgcmark.go"},
    {"syscall.Syscall", "/usr/local/go/src/syscall/syscall_linux.go"},
    {"syscall.RawSyscall6", "/usr/local/go/src/syscall/syscall_linux.go"},
    {"internal/runtime/syscall.Syscall6",
     "/usr/local/go/src/internal/runtime/syscall/asm_linux_amd64.s"},
    {"syscall.read", "/usr/local/go/src/syscall/zsyscall_linux_amd64.go"},
    {"syscall.write", "/usr/local/go/src/syscall/zsyscall_linux_amd64.go"},
    {"internal/poll.(*FD).Read", "/usr/local/go/src/internal/poll/fd_unix.go"},
    {"internal/poll.(*FD).Write", "/usr/local/go/src/internal/poll/fd_unix.go"},
    {"internal/poll.(*pollDesc).waitRead",
     "/usr/local/go/src/internal/poll/fd_poll_runtime.go"},
    END};

/* Packages every Go service links: generated once, shared by all. */
const char wl_go_shared_units[] =
    "net/http|encoding/json|crypto/tls|bufio|net|sync|context|io|"
    "compress/gzip|os|fmt|strconv|sort|time|reflect|google.golang.org/grpc|"
    "google.golang.org/grpc/internal/transport|"
    "google.golang.org/protobuf/internal/impl|golang.org/x/net/http2|"
    "go.opentelemetry.io/otel/sdk/trace|"
    "github.com/prometheus/client_golang/prometheus";
const uint32_t wl_go_shared_n = 500;

/* ---- binaries ------------------------------------------------------------- */

#define LIB "/usr/lib/x86_64-linux-gnu/"
#define JVM_HOME "/usr/lib/jvm/java-17-openjdk-amd64"

const wl_bin_def_t wl_bin_defs[WB_COUNT] = {
    [WB_VMLINUX] = {"vmlinux", WL_KERNEL, "kernel", kernel_syms, 160,
                    "tcp_:net/ipv4|sk_:net/core|ext4_:fs/ext4|xfs_:fs/xfs|"
                    "mem_cgroup_:mm|rcu_:kernel/rcu|bpf_:kernel/bpf|"
                    "cgroup_:kernel/cgroup|security_:security",
                    "", false},
    [WB_LIBC] = {LIB "libc.so.6", WL_C, "native", libc_syms, 0, "", "", false},
    [WB_LD] = {LIB "ld-linux-x86-64.so.2", WL_C, "native", ld_syms, 0, "", "",
               false},
    [WB_STDCXX] = {LIB "libstdc++.so.6.0.30", WL_CPP, "native", stdcxx_syms, 60,
                   "std|std::__detail|__gnu_cxx|std::filesystem",
                   "../../../../../libstdc++-v3/src", false},
    [WB_GCC_S] = {LIB "libgcc_s.so.1", WL_C, "native", gcc_s_syms, 0, "", "",
                  false},
    [WB_SSL] = {LIB "libssl.so.3", WL_C, "native", ssl_syms, 40,
                "ssl3_:ssl/record|tls_:ssl/statem|SSL_:ssl", "", false},
    [WB_CRYPTO] = {LIB "libcrypto.so.3", WL_C, "native", crypto_syms, 120,
                   "EVP_:crypto/evp|BN_:crypto/bn|ossl_:crypto|ec_:crypto/ec|"
                   "OPENSSL_:crypto|ASN1_:crypto/asn1",
                   "", false},
    [WB_Z] = {LIB "libz.so.1.2.13", WL_C, "native", z_syms, 0, "", "", false},
    [WB_ZSTD] = {LIB "libzstd.so.1.5.4", WL_C, "native", NULL, 50,
                 "ZSTD_:lib/compress|ZSTD_:lib/decompress|HUF_:lib/common|"
                 "FSE_:lib/common",
                 "", false},
    [WB_SYSTEMD] = {LIB "systemd/libsystemd-shared-252.so", WL_C, "native", NULL,
                    120, "sd_journal_:src/libsystemd/sd-journal|"
                    "journal_file_:src/shared|sd_event_:src/libsystemd/sd-event|"
                    "hashmap_:src/basic",
                    "", false},
    [WB_JVM] = {JVM_HOME "/lib/server/libjvm.so", WL_CPP, "native", jvm_syms, 600,
                "|", "src/hotspot/share", false},
    [WB_NGINX] = {"/usr/sbin/nginx", WL_C, "native", exe_c_syms, 400,
                  "ngx_http_:src/http|ngx_event_:src/event|ngx_:src/core|"
                  "ngx_http_upstream_:src/http|ngx_stream_:src/stream",
                  "/build/nginx-1.24.0", false},
    [WB_ENVOY] = {"/usr/local/bin/envoy", WL_CPP, "native", exe_c_syms, 1500,
                  "Envoy::Http|Envoy::Network|Envoy::Router|Envoy::Upstream|"
                  "Envoy::Event|Envoy::Stats|Envoy::Server|"
                  "Envoy::Extensions::Filters::Http|Envoy::Grpc|"
                  "Envoy::Http::Http2|Envoy::Buffer|Envoy::Tracing",
                  "/proc/self/cwd", false},
    [WB_MYSQLD] = {"/usr/sbin/mysqld", WL_CPP, "native", exe_c_syms, 1200,
                   "|dd|myrocks|binlog",
                   "/build/mysql-8.0.35", false},
    [WB_REDIS] = {"/usr/bin/redis-server", WL_C, "native", exe_c_syms, 350,
                  "dict:src|list:src|:src|rdb:src|aof:src|cluster:src|zsl:src",
                  "/build/redis-7.2.4", false},
    [WB_POSTGRES] = {"/usr/lib/postgresql/15/bin/postgres", WL_C, "native",
                     exe_c_syms, 900,
                     "Exec:src/backend/executor|heap_:src/backend/access/heap|"
                     "_bt_:src/backend/access/nbtree|Lock:src/backend/storage/lmgr|"
                     "pq_:src/backend/libpq|slot_:src/backend/executor|"
                     "XLog:src/backend/access/transam|hash_:src/backend/utils/hash",
                     "/build/postgresql-15", false},
    [WB_SSHD] = {"/usr/sbin/sshd", WL_C, "native", exe_c_syms, 150,
                 "ssh_:.|sshbuf_:.|channel_:.|kex_:.|packet_:.", "/build/openssh-9.2p1",
                 false},
    [WB_JOURNALD] = {"/usr/lib/systemd/systemd-journald", WL_C, "native",
                     exe_c_syms, 120, "server_:src/journal|stdout_stream_:src/journal",
                     "/build/systemd-252", false},
    [WB_CHECKOUT] = {"/app/checkout", WL_GO, "native", NULL, 600,
                     "github.com/acme-shop/checkout/internal/cart|"
                     "github.com/acme-shop/checkout/internal/pricing|"
                     "github.com/acme-shop/checkout/internal/store|"
                     "github.com/acme-shop/checkout/internal/api|"
                     "github.com/jackc/pgx/v5/pgconn|github.com/redis/go-redis/v9",
                     "/home/runner/work/checkout/checkout", true},
    [WB_PAYMENT] = {"/app/payment", WL_GO, "native", NULL, 500,
                    "github.com/acme-shop/payment/internal/ledger|"
                    "github.com/acme-shop/payment/internal/fraud|"
                    "github.com/acme-shop/payment/internal/api|"
                    "github.com/stripe/stripe-go/v76|github.com/segmentio/kafka-go",
                    "/home/runner/work/payment/payment", true},
    [WB_KUBELET] = {"/usr/bin/kubelet", WL_GO, "native", NULL, 900,
                    "k8s.io/kubernetes/pkg/kubelet|k8s.io/kubernetes/pkg/kubelet/pleg|"
                    "k8s.io/kubernetes/pkg/kubelet/cm|k8s.io/client-go/tools/cache|"
                    "k8s.io/apimachinery/pkg/runtime|k8s.io/klog/v2|"
                    "github.com/google/cadvisor/manager",
                    "/workspace/src/k8s.io/kubernetes", true},
    [WB_CONTAINERD] = {"/usr/bin/containerd", WL_GO, "native", NULL, 600,
                       "github.com/containerd/containerd/v2/core/runtime/v2|"
                       "github.com/containerd/containerd/v2/core/metadata|"
                       "github.com/containerd/containerd/v2/plugins/cri|"
                       "go.etcd.io/bbolt",
                       "/go/src/github.com/containerd/containerd", true},
    [WB_COREDNS] = {"/coredns", WL_GO, "native", NULL, 400,
                    "github.com/coredns/coredns/plugin/cache|"
                    "github.com/coredns/coredns/plugin/kubernetes|"
                    "github.com/coredns/coredns/plugin/forward|github.com/miekg/dns",
                    "/go/src/github.com/coredns/coredns", true},
    [WB_PYTHON] = {"/usr/bin/python3.11", WL_C, "native", python_syms, 150,
                   "_Py:Python|PyObject_:Objects|list_:Objects|dict_:Objects|"
                   "unicode_:Objects|gc_:Modules",
                   "", false},
    [WB_JDK] = {NULL, WL_JAVA, "jvm", jdk_syms, 500,
                "java.util|java.util.concurrent|java.util.concurrent.locks|"
                "java.lang|java.io|java.nio|sun.nio.ch|java.util.stream|"
                "jdk.internal.misc|java.lang.invoke|java.net|sun.security.ssl|"
                "javax.crypto",
                "", false},
    [WB_KAFKA] = {NULL, WL_JAVA, "jvm", NULL, 500,
                  "org.apache.kafka.clients.producer.internals|"
                  "org.apache.kafka.common.network|org.apache.kafka.common.record|"
                  "kafka.server|kafka.log|kafka.network|"
                  "org.apache.kafka.storage.internals.log",
                  "", false},
    [WB_CART] = {NULL, WL_JAVA, "jvm", NULL, 400,
                 "com.acme.cart.api|com.acme.cart.service|com.acme.cart.repository|"
                 "io.grpc.internal|io.netty.channel.nio|io.netty.buffer|"
                 "com.fasterxml.jackson.databind.ser|org.springframework.web.servlet|"
                 "org.hibernate.engine.internal",
                 "", false},
    [WB_PYSTD] = {NULL, WL_PY, "python", pystd_syms, 100,
                  "asyncio/streams|concurrent/futures/thread|email/parser|"
                  "urllib/parse|logging/handlers|typing|dataclasses|"
                  "collections/__init__|functools|re/_parser",
                  "/usr/lib/python3.11", false},
    [WB_PYAPP] = {NULL, WL_PY, "python", NULL, 200,
                  "recommendation/server|recommendation/service|"
                  "recommendation/model|recommendation/features|"
                  "grpc/_server|google/protobuf/internal/python_message|"
                  "opentelemetry/sdk/trace/__init__",
                  "/app", false},
};

/* ---- services --------------------------------------------------------------- */

const wl_svc_def_t wl_svc_defs[] = {
    {"nginx", "/usr/sbin/nginx", "ingress", WL_C, 6, WB_NGINX, WB_NGINX,
     {WB_NGINX, WB_LIBC, WB_SSL, WB_CRYPTO, WB_Z, 0}, "nginx", true},
    {"envoy", "/usr/local/bin/envoy", "istio-system", WL_CPP, 10, WB_ENVOY,
     WB_ENVOY, {WB_ENVOY, WB_LIBC, WB_STDCXX, WB_GCC_S, 0},
     "envoy|wrk:worker_0|wrk:worker_1|wrk:worker_2|wrk:worker_3|dispatcher|"
     "grpc_global_tim",
     true},
    {"mysql", "/usr/sbin/mysqld", "db", WL_CPP, 2, WB_MYSQLD, WB_MYSQLD,
     {WB_MYSQLD, WB_LIBC, WB_STDCXX, WB_CRYPTO, WB_ZSTD, 0},
     "connection|ib_io_wr-1|ib_io_rd-1|ib_pg_flush_co|ib_log_writer|"
     "ib_log_flush|mysqld",
     true},
    {"redis", "/usr/bin/redis-server", "cache", WL_C, 4, WB_REDIS, WB_REDIS,
     {WB_REDIS, WB_LIBC, WB_SSL, WB_LD, 0}, "redis-server|io_thd_1|io_thd_2|bio_lazy_free",
     true},
    {"postgres", "/usr/lib/postgresql/15/bin/postgres", "db", WL_C, 5, WB_POSTGRES,
     WB_POSTGRES, {WB_POSTGRES, WB_LIBC, WB_Z, WB_CRYPTO, 0}, "postgres", true},
    {"sshd", "/usr/sbin/sshd", NULL, WL_C, 1, WB_SSHD, WB_SSHD,
     {WB_SSHD, WB_LIBC, WB_CRYPTO, WB_Z, 0}, "sshd", false},
    {"systemd-journald", "/usr/lib/systemd/systemd-journald", NULL, WL_C, 1,
     WB_JOURNALD, WB_JOURNALD, {WB_JOURNALD, WB_SYSTEMD, WB_LIBC, WB_ZSTD, 0},
     "systemd-journal", false},
    {"checkout", "/app/checkout", "shop", WL_GO, 12, WB_CHECKOUT, WB_CHECKOUT,
     {WB_CHECKOUT, 0}, "checkout", true},
    {"payment", "/app/payment", "shop", WL_GO, 8, WB_PAYMENT, WB_PAYMENT,
     {WB_PAYMENT, 0}, "payment", true},
    {"kubelet", "/usr/bin/kubelet", NULL, WL_GO, 1, WB_KUBELET, WB_KUBELET,
     {WB_KUBELET, 0}, "kubelet", false},
    {"containerd", "/usr/bin/containerd", NULL, WL_GO, 1, WB_CONTAINERD,
     WB_CONTAINERD, {WB_CONTAINERD, 0}, "containerd", false},
    {"coredns", "/coredns", "kube-system", WL_GO, 2, WB_COREDNS, WB_COREDNS,
     {WB_COREDNS, 0}, "coredns", false},
    {"kafka", JVM_HOME "/bin/java", "streaming", WL_JAVA, 3, WB_JVM, WB_KAFKA,
     {WB_JDK, WB_JVM, WB_LIBC, WB_Z, 0},
     "data-plane-kafka-request-handler-0|data-plane-kafka-request-handler-1|"
     "data-plane-kafka-network-thread-1-ListenerName(PLAINTEXT)-PLAINTEXT-0|"
     "kafka-log-cleaner-thread-0|ReplicaFetcherThread-0-1|kafka-scheduler-3",
     true},
    {"cart", JVM_HOME "/bin/java", "shop", WL_JAVA, 8, WB_JVM, WB_CART,
     {WB_JDK, WB_JVM, WB_LIBC, 0},
     "http-nio-8080-exec-1|http-nio-8080-exec-2|http-nio-8080-exec-3|"
     "http-nio-8080-exec-4|grpc-default-executor-0|HikariPool-1 housekeeper|"
     "lettuce-nioEventLoop-4-1",
     true},
    {"recommendation", "/usr/bin/python3.11", "shop", WL_PY, 6, WB_PYTHON,
     WB_PYAPP, {WB_PYTHON, WB_LIBC, WB_Z, 0},
     "python3.11|ThreadPoolExecutor-0_0|ThreadPoolExecutor-0_1|"
     "ThreadPoolExecutor-0_2|grpc_global_tim",
     true},
};
const uint32_t wl_n_svc_defs = sizeof wl_svc_defs / sizeof wl_svc_defs[0];

/* ---- how stacks start, per language ------------------------------------------- */

static const wl_chain_def_t chains_native[] = {
    {"E:_start;C:__libc_start_main_impl;C:__libc_start_call_main;E:main;E:*", "EE",
     1.0, 3, NULL},
    {"C:clone3;C:start_thread;E:*;E:*", "EE", 1.0, 2, NULL},
};

static const wl_chain_def_t chains_go[] = {
    {"R:runtime.goexit;R:runtime.main;E:main.main", "AA", 1.0, 2, NULL},
    {"R:runtime.goexit;A:*", "AA", 1.0, 6, NULL},
    {"R:runtime.mstart;R:runtime.mstart0;R:runtime.mstart1;R:runtime.schedule;"
     "R:runtime.findRunnable",
     "RR", 1.0, 1, NULL},
    {"R:runtime.goexit;R:runtime.gcBgMarkWorker;R:runtime.systemstack;"
     "R:runtime.gcBgMarkWorker.func2;R:runtime.gcDrain",
     "RR", 1.0, 1, NULL},
};

static const wl_chain_def_t chains_java[] = {
    {"C:clone3;C:start_thread;J:thread_native_entry(Thread*);J:Thread::call_run();"
     "J:JavaThread::thread_main_inner();J:thread_entry(JavaThread*, JavaThread*);"
     "J:JavaCalls::call_virtual(JavaValue*, Handle, Klass*, Symbol*, Symbol*, "
     "JavaThread*);"
     "J:JavaCalls::call_helper(JavaValue*, methodHandle const&, "
     "JavaCallArguments*, JavaThread*);"
     "D:java.lang.Thread.run;D:java.util.concurrent.ThreadPoolExecutor$Worker.run;"
     "D:java.util.concurrent.ThreadPoolExecutor.runWorker",
     "AD", 0.7, 6, NULL},
    {"C:clone3;C:start_thread;J:thread_native_entry(Thread*);J:Thread::call_run();"
     "J:WorkerThread::run();J:G1EvacuateRegionsTask::work(unsigned int)",
     "JJ", 1.0, 1, "GC Thread#0|GC Thread#1|GC Thread#2|G1 Conc#0|G1 Refine#0"},
    {"C:clone3;C:start_thread;J:thread_native_entry(Thread*);J:Thread::call_run();"
     "J:JavaThread::thread_main_inner();J:CompileBroker::compiler_thread_loop();"
     "J:CompileBroker::invoke_compiler_on_method(CompileTask*);"
     "J:C2Compiler::compile_method(ciEnv*, ciMethod*, int, bool, DirectiveSet*);"
     "J:Compile::Compile(ciEnv*, ciMethod*, int, Options, DirectiveSet*)",
     "JJ", 1.0, 1, "C2 CompilerThre|C1 CompilerThre"},
};

static const wl_chain_def_t chains_py[] = {
    {"E:_start;C:__libc_start_main_impl;C:__libc_start_call_main;E:main;"
     "E:Py_BytesMain;E:Py_RunMain;E:pymain_run_python.constprop.0;"
     "E:_PyRun_AnyFileObject;E:_PyRun_SimpleFileObject;E:run_mod;"
     "E:run_eval_code_obj;E:PyEval_EvalCode;P:<module>",
     "AP", 0.6, 3, NULL},
    {"C:clone3;C:start_thread;E:thread_run;E:_PyObject_Call;P:Thread._bootstrap;"
     "P:Thread._bootstrap_inner;P:Thread.run",
     "AP", 0.6, 2, NULL},
};

const wl_chain_def_t *wl_chains_for(wl_style_t lang, uint32_t *n) {
#define CHAINS(arr) (*n = sizeof arr / sizeof arr[0], arr)
  switch (lang) {
  case WL_GO: return CHAINS(chains_go);
  case WL_JAVA: return CHAINS(chains_java);
  case WL_PY: return CHAINS(chains_py);
  default: return CHAINS(chains_native);
  }
#undef CHAINS
}

/* ---- words ------------------------------------------------------------------ */

const char *const wl_nouns[] = {
    "request", "response", "header", "body", "buffer", "chunk", "stream",
    "connection", "session", "cache", "index", "query", "plan", "row", "tuple",
    "page", "block", "segment", "log", "entry", "record", "message", "frame",
    "token", "config", "metric", "span", "event", "timer", "lock", "node",
    "tree", "list", "table", "hash", "key", "value", "slot", "worker", "pool",
    "queue", "task", "job", "batch", "file", "socket", "packet", "upstream",
    "peer", "route", "filter", "codec", "parser", "schema", "txn", "snapshot",
    "replica", "shard", "partition", "offset", "cursor", "iter", "range",
    "bitmap", "arena", "cluster", "listener", "handshake", "cert", "cipher",
    "order", "cart", "price", "account", "ledger", "user", "product", "item",
    "inventory", "invoice", "tenant", "watch", "pod", "volume", "image",
    "layer", "manifest", "digest", "zone", "lease", "election", "checkpoint",
};
const uint32_t wl_n_nouns = sizeof wl_nouns / sizeof wl_nouns[0];

const char *const wl_verbs[] = {
    "init", "read", "write", "flush", "send", "recv", "parse", "encode",
    "decode", "process", "handle", "dispatch", "lookup", "insert", "update",
    "delete", "find", "get", "set", "add", "remove", "merge", "split", "sort",
    "scan", "apply", "commit", "prepare", "finish", "start", "stop", "run",
    "poll", "wait", "notify", "alloc", "release", "create", "destroy", "open",
    "close", "validate", "compute", "serialize", "compress", "emit", "match",
    "resolve", "schedule", "acquire", "evict", "refresh", "sync", "load",
    "store", "marshal", "unmarshal", "visit", "build", "reset",
};
const uint32_t wl_n_verbs = sizeof wl_verbs / sizeof wl_verbs[0];

const char *const wl_class_suffixes[] = {
    "Impl", "Manager", "Handler", "Factory", "Filter", "Reader", "Writer",
    "Builder", "Codec", "Pool", "Base", "Service", "Controller", "Client", "",
    "", "",
};
const uint32_t wl_n_class_suffixes =
    sizeof wl_class_suffixes / sizeof wl_class_suffixes[0];

const wl_cpp_args_t wl_cpp_args[] = {
    {"", "v"},
    {"", "v"},
    {"unsigned long", "m"},
    {"char const*, unsigned long", "PKcm"},
    {"int", "i"},
    {"bool", "b"},
    {"void*", "Pv"},
    {"unsigned int, unsigned int", "jj"},
    {"long", "l"},
    {"double", "d"},
    {"std::basic_string_view<char, std::char_traits<char> >",
     "St17basic_string_viewIcSt11char_traitsIcEE"},
    {"Buffer::Instance&, bool", "RN6Buffer8InstanceEb"},
    {"THD*", "P3THD"},
    {"std::unique_ptr<Event::Timer, std::default_delete<Event::Timer> >&&",
     "OSt10unique_ptrIN5Event5TimerESt14default_deleteIS1_EE"},
    {"absl::lts_20230802::string_view, unsigned long",
     "N4absl12lts_2023080211string_viewEm"},
};
const uint32_t wl_n_cpp_args = sizeof wl_cpp_args / sizeof wl_cpp_args[0];
