//! The live loop: terminal input, collector batches and a frame tick, selected over one task
//! that owns the store (no locks). Events are applied as they come; the screen is redrawn at
//! most once per tick, so a burst of thousands of queries costs one frame.

use std::time::Duration;

use anyhow::Result;
use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyEventKind,
    MouseButton, MouseEventKind,
};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::{draw, App, Effect};
use crate::collector::{Address, Collector, Incoming, Peers};
use crate::protocol::Event;
use crate::store::Store;

const FRAME: Duration = Duration::from_millis(33);

/// Run the TUI: live on `address`, or over a loaded recording.
pub async fn run(
    address: Option<Address>,
    replay: Option<(Store, String)>,
    config: crate::analysis::Config,
) -> Result<()> {
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let (tx, mut rx) = mpsc::channel::<Incoming>(1024);
    let (app, server, peers) = match replay {
        Some((store, name)) => {
            let mut app = App::new(store, format!("replay {name}"), color, config);
            app.live = false;
            (app, None, None)
        }
        None => {
            let address = address.expect("live mode has an address");
            // Bind before touching the terminal so a busy port is a plain one-line error.
            let collector = Collector::bind(&address).await?;
            let source = collector.address().to_string();
            let peers = collector.peers();
            let server = tokio::spawn(collector.serve(tx, false));
            let app = App::new(Store::new(), source, color, config);
            (app, Some(server), Some(peers))
        }
    };
    crate::highlight::warm_up();

    // ratatui::init enters the alternate screen and installs a panic hook that restores it;
    // ours runs first and turns mouse reporting off, or the shell would receive mouse codes.
    let mut terminal = ratatui::init();
    let restore_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
        restore_hook(info);
    }));
    let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
    let result = event_loop(&mut terminal, app, &mut rx, peers).await;
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    if let Some(server) = server {
        server.abort();
    }
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    mut app: App,
    rx: &mut mpsc::Receiver<Incoming>,
    peers: Option<Peers>,
) -> Result<()> {
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut dirty = true;
    let mut page = 10usize;
    // What the screen shows: redraw on a tick only when the store moved on.
    let mut drawn = (0u64, 0u64, 0usize, 0u64, None);
    let started = std::time::Instant::now();
    // Batches held while the live tail is paused (collected, not yet shown).
    let mut held: Vec<Incoming> = Vec::new();
    loop {
        if dirty {
            terminal.draw(|f| {
                page = f.area().height.saturating_sub(6).max(1) as usize;
                draw(f, &mut app);
            })?;
            dirty = false;
        }
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(key))) if key.kind != KeyEventKind::Release => {
                    app.handle_key(key, page);
                    if app.quit {
                        return Ok(());
                    }
                    if !app.paused && !held.is_empty() {
                        for msg in held.drain(..) {
                            apply(&mut app.store, msg);
                        }
                        app.waiting = 0;
                    }
                    if let Some(effect) = app.effect.take() {
                        let suspend = matches!(effect, Effect::Edit { suspend: true, .. });
                        if suspend {
                            // Stop reading keys so the editor gets them all.
                            input = EventStream::new();
                        }
                        carry_out(terminal, effect, &mut app, peers.as_ref());
                        if suspend {
                            // The terminal was re-initialised: mouse reporting is off again.
                            let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
                        }
                    }
                    dirty = true;
                }
                Some(Ok(TermEvent::Mouse(m))) => {
                    match m.kind {
                        MouseEventKind::ScrollDown => app.apply(super::Action::Down(3), page),
                        MouseEventKind::ScrollUp => app.apply(super::Action::Up(3), page),
                        MouseEventKind::Down(MouseButton::Left) => app.click(m.column, m.row, page),
                        _ => continue,
                    }
                    dirty = true;
                }
                Some(Ok(TermEvent::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            Some(msg) = rx.recv() => {
                // Plans go to the app at once, paused or not: someone is waiting for them.
                held.push(take_plans(msg, &mut app));
                // Take everything already waiting before the next frame.
                while let Ok(msg) = rx.try_recv() {
                    held.push(take_plans(msg, &mut app));
                }
                if !app.paused {
                    for msg in held.drain(..) {
                        apply(&mut app.store, msg);
                    }
                }
                app.waiting = held.iter().map(events_in).sum();
                // Redraw on the next tick, not per batch.
            }
            _ = tick.tick() => {
                app.expire_plans(std::time::Instant::now());
                // A pending plan shows the seconds it has waited: redraw as they tick.
                let pending_secs = app
                    .has_pending_plans()
                    .then(|| started.elapsed().as_secs());
                let now = (
                    app.store.generation,
                    app.store.malformed,
                    app.waiting,
                    app.plans_changed,
                    pending_secs,
                );
                // A request analysed over several frames: the next part on each tick.
                if now != drawn || app.analysing().is_some() {
                    dirty = true;
                    drawn = now;
                }
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = sigterm.recv() => return Ok(()),
        }
    }
}

/// Deliver the `plan` events of a batch to the app (they are not for the store) and tell it
/// of a disconnect (its pending requests will not be answered); the rest is held for the store.
pub fn take_plans(mut msg: Incoming, app: &mut App) -> Incoming {
    match &mut msg {
        Incoming::Batch { events, .. } if events.iter().any(|e| matches!(e, Event::Plan(_))) => {
            events.retain(|e| match e {
                Event::Plan(p) => {
                    app.plan_arrived(p);
                    false
                }
                _ => true,
            });
        }
        Incoming::Disconnected { sid: Some(sid), .. } => {
            app.process_gone(sid);
        }
        _ => {}
    }
    msg
}

/// Send an EXPLAIN request to process `sid` through the collector; when it cannot go, the
/// plan view says why.
pub fn send_request(
    app: &mut App,
    peers: Option<&Peers>,
    sid: &str,
    request: &crate::protocol::Request,
) {
    let crate::protocol::Request::Explain(ask) = request;
    let sent = match peers {
        Some(peers) => peers.send(sid, request),
        None => Err(crate::collector::SendError::Gone),
    };
    if let Err(e) = sent {
        app.plan_not_sent(ask.id, &e);
    }
}

/// Effects that need the terminal (or the collector) itself.
fn carry_out(
    terminal: &mut ratatui::DefaultTerminal,
    effect: Effect,
    app: &mut App,
    peers: Option<&Peers>,
) {
    use std::io::Write;
    match effect {
        Effect::Explain { sid, request } => send_request(app, peers, &sid, &request),
        Effect::Copy(text) => {
            let osc = osc52(&text, std::env::var_os("TMUX").is_some());
            let mut out = std::io::stdout();
            let _ = out.write_all(osc.as_bytes()).and_then(|_| out.flush());
        }
        Effect::Edit { argv, suspend } => {
            let run = || {
                std::process::Command::new(&argv[0])
                    .args(&argv[1..])
                    .status()
            };
            let result = if suspend {
                ratatui::restore();
                let status = run();
                *terminal = ratatui::init();
                let _ = terminal.clear();
                status.map(|s| s.success())
            } else {
                std::process::Command::new(&argv[0])
                    .args(&argv[1..])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .map(|_| true)
            };
            app.message = Some(match result {
                Ok(true) => format!("opened {}", argv[1..].join(" ")),
                Ok(false) => format!("{} exited with an error", argv[0]),
                Err(e) => format!("cannot run {}: {e} (set $VISUAL or $EDITOR)", argv[0]),
            });
        }
    }
}

/// The OSC 52 "set clipboard" sequence; inside tmux, wrapped so tmux passes it through
/// (needs `set -g allow-passthrough on` or `set -g set-clipboard on`).
pub fn osc52(text: &str, tmux: bool) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    if tmux {
        format!("\x1bPtmux;\x1b\x1b]52;c;{b64}\x07\x1b\\")
    } else {
        format!("\x1b]52;c;{b64}\x07")
    }
}

fn events_in(msg: &Incoming) -> usize {
    match msg {
        Incoming::Batch { events, .. } => events.len(),
        _ => 0,
    }
}

fn apply(store: &mut Store, msg: Incoming) {
    match msg {
        Incoming::Batch {
            events, malformed, ..
        } => {
            store.malformed += malformed;
            for ev in events {
                store.apply(ev);
            }
        }
        Incoming::Disconnected { sid: Some(sid), .. } => {
            store.apply(crate::protocol::Event::Disconnect(
                crate::protocol::Disconnect {
                    sid,
                    ts: crate::protocol::now_ts(),
                },
            ));
        }
        Incoming::Disconnected { sid: None, .. } | Incoming::Connected { .. } => {}
    }
}
