//! A connection's application, with its next deadline kept beside it.
//!
//! Why: the world asks for a connection's next wake-up after every event of
//! that connection, and asking the application meant loading it (and, for
//! kasim's own applications, their traffic generators and strategy) from
//! memory a fleet has long evicted: ~7 % of a 10 000-connection `kasim run`.
//! An application's deadline can only change when the application runs, so
//! it is asked once after each call into it and the answer is kept: the
//! world reads the copy. That is [`Application::poll_timeout`]'s contract.
//!
//! Every way to reach the application goes through this type, so no call
//! into it can leave the copy stale.

use crate::app::{AppEvent, AppIo, Application};
use crate::time::Instant;

pub(super) struct AppSlot {
    app: Box<dyn Application>,
    /// `app.poll_timeout()` as of the last call into `app`.
    deadline: Option<Instant>,
}

impl AppSlot {
    pub(super) fn new(app: Box<dyn Application>) -> AppSlot {
        let deadline = app.poll_timeout();
        AppSlot { app, deadline }
    }

    /// The application's next deadline.
    #[inline(always)]
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    pub(super) fn on_event(&mut self, now: Instant, event: AppEvent, io: &mut AppIo) {
        self.app.on_event(now, event, io);
        self.deadline = self.app.poll_timeout();
    }

    pub(super) fn on_timeout(&mut self, now: Instant, io: &mut AppIo) {
        self.app.on_timeout(now, io);
        self.deadline = self.app.poll_timeout();
    }

    /// Put `app` in the place of the application, and hand that one back.
    pub(super) fn replace(&mut self, app: Box<dyn Application>) -> Box<dyn Application> {
        std::mem::replace(self, AppSlot::new(app)).app
    }
}
