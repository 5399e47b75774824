//! Named values of the spec's open enumerations. Values stay plain integers
//! in the model so that codes from newer spec versions pass through.

/// Device types (AdCOM "Device Type").
pub mod device_type {
    /// Mobile or tablet (2.x legacy).
    pub const MOBILE_TABLET: u32 = 1;
    /// Personal computer.
    pub const PC: u32 = 2;
    /// Connected TV.
    pub const CONNECTED_TV: u32 = 3;
    /// Phone.
    pub const PHONE: u32 = 4;
    /// Tablet.
    pub const TABLET: u32 = 5;
    /// Connected device.
    pub const CONNECTED_DEVICE: u32 = 6;
    /// Set-top box.
    pub const SET_TOP_BOX: u32 = 7;
    /// Out-of-home device.
    pub const OOH: u32 = 8;
}

/// Markup types of `bid.mtype` (2.6).
pub mod mtype {
    /// Banner.
    pub const BANNER: u32 = 1;
    /// Video.
    pub const VIDEO: u32 = 2;
    /// Audio.
    pub const AUDIO: u32 = 3;
    /// Native.
    pub const NATIVE: u32 = 4;
}

/// Native image asset types.
pub mod native_image {
    /// Icon.
    pub const ICON: u32 = 1;
    /// Main image.
    pub const MAIN: u32 = 3;
}

/// Native data asset types.
pub mod native_data {
    /// Sponsored-by message.
    pub const SPONSORED: u32 = 1;
    /// Descriptive text.
    pub const DESC: u32 = 2;
    /// Rating.
    pub const RATING: u32 = 3;
    /// Likes.
    pub const LIKES: u32 = 4;
    /// Downloads.
    pub const DOWNLOADS: u32 = 5;
    /// Price.
    pub const PRICE: u32 = 6;
    /// Sale price.
    pub const SALEPRICE: u32 = 7;
    /// Phone.
    pub const PHONE: u32 = 8;
    /// Address.
    pub const ADDRESS: u32 = 9;
    /// Additional description.
    pub const DESC2: u32 = 10;
    /// Display URL.
    pub const DISPLAYURL: u32 = 11;
    /// Call-to-action text.
    pub const CTATEXT: u32 = 12;
}

/// Native event tracker events and methods.
pub mod native_event {
    /// Impression.
    pub const IMPRESSION: u32 = 1;
    /// Image-pixel method.
    pub const METHOD_IMG: u32 = 1;
}

/// Auction types (`at`).
pub mod auction_type {
    /// First price.
    pub const FIRST_PRICE: i64 = 1;
    /// Second price plus.
    pub const SECOND_PRICE: i64 = 2;
    /// The deal's floor is the agreed fixed price (deals only).
    pub const FIXED_PRICE: i64 = 3;
}
