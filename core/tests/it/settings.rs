//! `CallSettings`: the seed's defaults, one by one, and the builder.

use switchboard_core::model::AudioModeKind;
use switchboard_core::settings::{AspectRatio, AvatarMode, CallSettings, Mode, Position};

/// The seed's table (seed/README.md, "CallSettings"), row by row.
#[test]
fn every_default_is_the_seeds() {
    let s = CallSettings::default();
    assert!(s.enable_default_layout, "enableDefaultLayout: true");
    assert!(!s.audio_only_call, "setAudioOnlyCall: false");
    assert!(s.show_end_call_button, "showEndCallButton: true");
    assert!(s.show_switch_camera_button, "showSwitchCameraButton: true");
    assert!(s.show_mute_audio_button, "showMuteAudioButton: true");
    assert!(s.show_pause_video_button, "showPauseVideoButton: true");
    assert!(s.show_audio_mode_button, "showAudioModeButton: true");
    assert_eq!(s.mode, Mode::Spotlight, "setMode: SPOTLIGHT (the guide wins)");
    assert!(!s.start_with_audio_muted, "startWithAudioMuted: false");
    assert!(!s.start_with_video_muted, "startWithVideoMuted: false");
    assert_eq!(s.default_audio_mode, None, "setDefaultAudioMode: none (platform choice)");
    assert!(s.show_switch_to_video_call_button, "showSwitchToVideoCallButton: true");
    assert!(!s.show_call_record_button, "showCallRecordButton: false");
    assert!(!s.start_recording_on_call_start, "startRecordingOnCallStart: false");
    assert_eq!(s.avatar_mode, AvatarMode::Circle, "setAvatarMode: CIRCLE");
    assert!(s.enable_video_tile_drag, "enableVideoTileDrag: true");
    assert!(s.enable_video_tile_click, "enableVideoTileClick: true");
    assert_eq!(s.idle_timeout_period, 180, "setIdleTimeoutPeriod: 180 s");

    // MainVideoContainerSetting.
    let m = &s.main_video_container;
    assert_eq!(m.aspect_ratio, AspectRatio::Default, "main video aspect ratio: DEFAULT");
    assert_eq!(
        (m.full_screen_button.position, m.full_screen_button.visible),
        (Position::BottomRight, true),
        "full screen button: BOTTOM_RIGHT, visible"
    );
    assert_eq!(
        (m.name_label.position, m.name_label.visible, m.name_label.background_color.as_str()),
        (Position::BottomLeft, true, "#333333"),
        "name label: BOTTOM_LEFT, visible, #333333"
    );
    assert_eq!(
        (m.zoom_button.position, m.zoom_button.visible),
        (Position::BottomRight, true),
        "zoom button: BOTTOM_RIGHT, visible"
    );
    assert_eq!(
        (m.user_list_button.position, m.user_list_button.visible),
        (Position::BottomRight, true),
        "user list button: BOTTOM_RIGHT, visible"
    );
}

#[test]
fn the_builder_changes_only_what_it_is_told() {
    let built = CallSettings::builder()
        .audio_only_call(true)
        .mode(Mode::Single)
        .default_audio_mode(Some(AudioModeKind::Earpiece))
        .show_call_record_button(true)
        .idle_timeout_period(30)
        .build();
    let expected = CallSettings {
        audio_only_call: true,
        mode: Mode::Single,
        default_audio_mode: Some(AudioModeKind::Earpiece),
        show_call_record_button: true,
        idle_timeout_period: 30,
        ..CallSettings::default()
    };
    assert_eq!(built, expected);
    assert_eq!(CallSettings::builder().build(), CallSettings::default());
}
