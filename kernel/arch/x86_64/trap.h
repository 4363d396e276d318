#pragma once
struct Thread;
struct TrapFrame;
// Ends the task of `t` after a fatal user error, with a console line saying why.
void user_task_fatal(Thread* t, const char* reason, const TrapFrame* f);
